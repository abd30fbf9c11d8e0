import { z } from "zod";

import { int } from "./config_fields.js";

/** The config's `prune` section: weight masks during training, or a structured cut that makes the model smaller. */

/** The `prune` section (optional): what is pruned during training, and when. @example pruneSection.parse({ kind: "structured", sparsity: 0.5, schedule: { end: 300 } }) */
export const pruneSection = z
  .strictObject({
    kind: z
      .enum(["magnitude", "nm", "structured"])
      .describe(
        "magnitude: zero the smallest-magnitude weights of the Linear and Conv2d layers, gradually (masks); nm: keep n of every m consecutive input weights (2:4 as NVIDIA ASP), from schedule.start on; structured: at step schedule.end rebuild the model without the weakest `sparsity` of its conv channels, hidden neurons and attention heads, and fine-tune the smaller model for the rest of the run (as `turbine prune` then `train --resume`)",
      ),
    sparsity: z
      .number()
      .min(0)
      .lt(1)
      .default(0.5)
      .describe("final share of the weights pruned (magnitude), or of each layer's channels, neurons or heads (structured)"),
    targets: z
      .array(z.enum(["conv", "linear", "heads"]))
      .min(1)
      .optional()
      .describe("structured: what is removed (default: every structure the model has: conv channels, hidden Linear and gpt MLP neurons, attention heads)"),
    scope: z
      .enum(["global", "layer"])
      .default("layer")
      .describe("magnitude: every weight pruned to the same sparsity (layer) or the smallest over all weights together (global)"),
    n: int(1).default(2).describe("nm: weights kept in each group of m"),
    m: int(1).default(4).describe("nm: group size along the input dimension (weights whose input dimension is not a multiple stay dense)"),
    schedule: z
      .strictObject({
        start: int(0).default(0).describe("step (optimizer steps done) of the first mask; nothing is pruned before it"),
        end: int(0).describe("step at which the final sparsity is reached (structured: the step of the cut, at least 1)"),
        every: int(1).default(100).describe("steps between mask updates, Zhu & Gupta's Δt: s_t = s_f·(1 − (1 − (t − start)/(end − start))³)"),
      })
      .superRefine((s, ctx) => {
        if (s.end < s.start) ctx.addIssue({ code: "custom", path: ["end"], message: `end ${s.end} is before start ${s.start}` });
      })
      .describe("when masks are computed"),
  })
  .superRefine((p, ctx) => {
    if (p.n >= p.m) ctx.addIssue({ code: "custom", path: ["n"], message: `n ${p.n} must be below m ${p.m}` });
    if (p.kind === "structured" && p.sparsity === 0)
      ctx.addIssue({ code: "custom", path: ["sparsity"], message: "structured pruning needs a sparsity above 0" });
    if (p.kind === "structured" && p.schedule.end < 1) {
      ctx.addIssue({
        code: "custom",
        path: ["schedule", "end"],
        message: "structured pruning cuts at step schedule.end, which must be at least 1 (train first)",
      });
    }
    if (p.kind !== "structured" && p.targets)
      ctx.addIssue({ code: "custom", path: ["targets"], message: "targets is for kind structured (masks prune every Linear and Conv2d)" });
  })
  .optional()
  .describe(
    "pruning during training: masks (magnitude, nm) that keep pruned weights at zero, or a structured cut that rebuilds the model smaller mid-run (structured)",
  );
