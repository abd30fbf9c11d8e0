import { z } from "zod";

import { int, positive } from "./config_fields.js";

/** The config's `optimizer` and `schedule` sections: the update rule and its learning-rate schedule. */

/** The `optimizer` section: the update rule and its hyperparameters. @example optimizerSection.parse({ kind: "lion", lr: 3e-4 }) */
export const optimizerSection = z
  .strictObject({
    kind: z
      .enum(["sgd", "adam", "adamw", "lamb", "lion", "muon", "onebitadam"])
      .default("adamw")
      .describe(
        "the optimizer: lamb (Adam direction scaled per tensor by ‖w‖/‖update‖, for large batches), lion (sign of interpolated momentum, one state buffer; lr 3–10× below AdamW's), muon (orthogonalised momentum for hidden matrices, by Newton–Schulz in bf16 under bf16 autocast; AdamW for embeddings, the output head, biases and norms), onebitadam (1-bit Adam: AdamW for freezeStep steps, then the variance frozen and the momentum averaged over the ranks as signs and scales, about 32× fewer bytes; data parallel, zero 0); lamb and muon need whole parameters: under parallel.zero ≥ 1 the ranks share their norms and matrices, with parallel.tensor > 1 they are refused",
      ),
    lr: positive().default(1e-3).describe("peak learning rate (muon: of the orthogonalised matrices, e.g. 0.02)"),
    weightDecay: z
      .number()
      .min(0)
      .optional()
      .describe(
        "weight decay (AdamW, Lion, Muon: decoupled, defaults 0.01, 0, 0; LAMB: added to the update before the trust ratio, default 0.01; Adam and SGD: L2, default 0)",
      ),
    betas: z
      .tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)])
      .optional()
      .describe("betas of Adam/AdamW/LAMB (default [0.9, 0.999]), Lion (default [0.9, 0.99]) and Muon's AdamW part (default [0.9, 0.95])"),
    eps: positive().optional().describe("epsilon of Adam/AdamW (default 1e-8), LAMB (default 1e-6) and Muon's AdamW part (default 1e-10)"),
    momentum: z.number().min(0).optional().describe("SGD momentum (default 0); Muon momentum, below 1 (default 0.95)"),
    dampening: z.number().min(0).max(1).optional().describe("SGD dampening (default 0)"),
    nesterov: z.boolean().optional().describe("Nesterov momentum: SGD (default false), Muon (default true)"),
    adamLr: positive().optional().describe("Muon: peak learning rate of the parameters it hands to AdamW (default 3e-4)"),
    freezeStep: int(1)
      .optional()
      .describe(
        "onebitadam: steps of plain AdamW (full-precision gradient all-reduce) before the variance freezes and the momentum is compressed (default 100)",
      ),
    decayOn: z
      .enum(["all", "matrices"])
      .default("all")
      .describe("parameters that get weight decay: all, or only matrices (weights of rank ≥ 2, nanoGPT's rule)"),
  })
  .superRefine((o, ctx) => {
    if (o.kind === "muon" && o.momentum !== undefined && o.momentum >= 1) {
      ctx.addIssue({ code: "custom", path: ["momentum"], message: `Muon's momentum must be below 1, got ${o.momentum}` });
    }
    if (o.kind !== "onebitadam" && o.freezeStep !== undefined) {
      ctx.addIssue({ code: "custom", path: ["freezeStep"], message: `freezeStep is onebitadam's only; optimizer.kind is ${o.kind}` });
    }
    if (o.kind !== "muon" && o.adamLr !== undefined) {
      ctx.addIssue({ code: "custom", path: ["adamLr"], message: `adamLr is Muon's only; optimizer.kind is ${o.kind}` });
    }
  })
  .default({ kind: "adamw", lr: 1e-3, decayOn: "all" })
  .describe("optimizer");

/** The `schedule` section: warm-up and decay of the learning rate. @example scheduleSection.parse({ warmup: 100, decay: "cosine" }) */
export const scheduleSection = z
  .strictObject({
    warmup: int(0).default(0).describe("linear warm-up steps: lr·(step+1)/warmup"),
    decay: z.enum(["constant", "cosine", "linear", "step", "wsd"]).default("constant").describe("what follows the warm-up, over the rest of the run"),
    floor: z.number().min(0).max(1).default(0).describe("final learning rate as a fraction of the peak (cosine, linear, wsd)"),
    stepSize: int(1).default(1000).describe("steps between decays (decay: step)"),
    gamma: z.number().positive().default(0.1).describe("factor per decay (decay: step)"),
    decayFraction: z.number().gt(0).max(1).default(0.2).describe("share of the run spent decaying (decay: wsd)"),
  })
  .default({ warmup: 0, decay: "constant", floor: 0, stepSize: 1000, gamma: 0.1, decayFraction: 0.2 })
  .describe("schedule");
