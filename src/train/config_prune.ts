import { z } from "zod";

import { int } from "./config_fields.js";

/** The config's `prune` section: weight masks during training. */

/** The `prune` section (optional): what is pruned during training, and when. @example pruneSection.parse({ kind: "nm", schedule: { end: 0 } }) */
export const pruneSection = z
  .strictObject({
    kind: z
      .enum(["magnitude", "nm"])
      .describe(
        "magnitude: zero the smallest-magnitude weights of the Linear and Conv2d layers, gradually (masks); nm: keep n of every m consecutive input weights (2:4 as NVIDIA ASP), from schedule.start on; structured pruning, which rebuilds the layers smaller, is `turbine prune`",
      ),
    sparsity: z.number().min(0).lt(1).default(0.5).describe("final share of the weights pruned (magnitude)"),
    scope: z
      .enum(["global", "layer"])
      .default("layer")
      .describe("magnitude: every weight pruned to the same sparsity (layer) or the smallest over all weights together (global)"),
    n: int(1).default(2).describe("nm: weights kept in each group of m"),
    m: int(1).default(4).describe("nm: group size along the input dimension (weights whose input dimension is not a multiple stay dense)"),
    schedule: z
      .strictObject({
        start: int(0).default(0).describe("step (optimizer steps done) of the first mask; nothing is pruned before it"),
        end: int(0).describe("step at which the final sparsity is reached"),
        every: int(1).default(100).describe("steps between mask updates, Zhu & Gupta's Δt: s_t = s_f·(1 − (1 − (t − start)/(end − start))³)"),
      })
      .superRefine((s, ctx) => {
        if (s.end < s.start) ctx.addIssue({ code: "custom", path: ["end"], message: `end ${s.end} is before start ${s.start}` });
      })
      .describe("when masks are computed"),
  })
  .superRefine((p, ctx) => {
    if (p.n >= p.m) ctx.addIssue({ code: "custom", path: ["n"], message: `n ${p.n} must be below m ${p.m}` });
  })
  .optional()
  .describe(
    "pruning during training: masks (magnitude, nm) that keep pruned weights at zero (structured pruning that makes the model smaller: `turbine prune`)",
  );
