/**
 * The reference workloads of DESIGN.md §4 as turbine configs that mirror their PyTorch twins in
 * bench/torch/ (same model, data, optimizer, batch), and the work each unit of throughput
 * costs, for the GFLOP/s columns.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import type { ConfigInput } from "../src/train/config.js";

export type WorkloadName = "mlp" | "cnn" | "gpt";
export const WORKLOADS: readonly WorkloadName[] = ["mlp", "cnn", "gpt"];

/** AdamW as the twins use it for the classifiers: lr 1e-3, PyTorch's default betas, eps and weight decay 0.01. */
const classifierOptimizer = { kind: "adamw", lr: 1e-3, weightDecay: 0.01 } as const;

/** The bench's precision names (the twins' --precision) and the config's. */
export const PRECISIONS = { f32: "float32", bf16: "bfloat16" } as const;
export type BenchPrecision = keyof typeof PRECISIONS;

/**
 * The turbine config of a workload for a run of `steps` optimizer steps in all; bf16 is
 * autocast around forward and loss, as the twins' torch.autocast("cpu", dtype=torch.bfloat16).
 */
export function workloadConfig(name: WorkloadName, root: string, steps: number, precision: BenchPrecision = "f32"): ConfigInput {
  const train = { steps, precision: PRECISIONS[precision] };
  switch (name) {
    case "mlp":
      return { model: { kind: "mlp", hidden: [1024, 1024] }, data: { kind: "fashion-mnist", batchSize: 256 }, optimizer: classifierOptimizer, train };
    case "cnn":
      return {
        model: { kind: "cnn", channels: [32, 64], hidden: 128 },
        data: { kind: "fashion-mnist", batchSize: 128 },
        optimizer: classifierOptimizer,
        train,
      };
    case "gpt": {
      const recipe = JSON.parse(readFileSync(join(root, "examples", "gpt-char.json"), "utf8")) as ConfigInput & { train: object };
      return { ...recipe, train: { ...recipe.train, ...train } };
    }
  }
}

/** A recipe file: config sections (model, data, optimizer, schedule, train) as a JSON object. */
export function readRecipe(path: string): Record<string, Record<string, unknown>> {
  const recipe = JSON.parse(readFileSync(path, "utf8")) as unknown;
  if (recipe === null || typeof recipe !== "object" || Array.isArray(recipe))
    throw new Error(`workload: --recipe ${path} must hold a JSON object of config sections`);
  return recipe as Record<string, Record<string, unknown>>;
}

/**
 * The config with each of the recipe's sections replacing the config's field by field (a whole
 * section where the config has none), so a recipe names only what it changes.
 * @example withRecipe(workloadConfig("gpt", root, 450, "bf16"), { optimizer: { lr: 3e-3 } })
 */
export function withRecipe(config: ConfigInput, recipe: Record<string, Record<string, unknown>>): ConfigInput {
  const merged: Record<string, unknown> = { ...config };
  for (const [section, fields] of Object.entries(recipe)) merged[section] = { ...(merged[section] as object | undefined), ...fields };
  return merged as ConfigInput;
}

/**
 * Floating-point operations per sample (mlp, cnn) or token (gpt) of one training step, forward
 * and backward (≈ 3× the forward's multiply-adds ×2), counting the matrix products and
 * convolutions, which are nearly all of it.
 */
export function flopsPerUnit(name: WorkloadName): number {
  switch (name) {
    // A layer costs its forward product once and twice more in backward (input and weight
    // gradients), except the first layer, whose input (the images) needs no gradient.
    case "mlp":
      return 4 * 784 * 1024 + 6 * (1024 * 1024 + 1024 * 10);
    case "cnn": {
      const conv1 = 26 * 26 * 32 * 9 * 2,
        conv2 = 11 * 11 * 64 * 32 * 9 * 2,
        fc = (1600 * 128 + 128 * 10) * 2;
      return 2 * conv1 + 3 * (conv2 + fc);
    }
    case "gpt": {
      const width = 256,
        layers = 4,
        context = 128,
        vocab = 73;
      const matmulParams = layers * 12 * width * width + width * vocab;
      const attention = layers * 3 * 2 * context * width; // causal QKᵀ and PV, forward and backward
      return 6 * matmulParams + attention;
    }
  }
}
