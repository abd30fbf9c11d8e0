import { Conv2d } from "../nn/conv.js";
import { Linear } from "../nn/linear.js";
import type { Module } from "../nn/module.js";
import type { Tensor } from "../tensor/tensor.js";
import { magnitudeMasks, type Mask, nmMask } from "./masks.js";
import { cubicSparsity, isUpdateStep, type PruneSchedule } from "./schedule.js";

/** How a Pruner masks weights during training (the config's `prune` block, less `structured`). */
export interface MaskPruneOptions {
  /** magnitude: the smallest |w| (gradually, on the cubic schedule); nm: N of every M inputs kept (at schedule.start, then fixed). */
  kind: "magnitude" | "nm";
  /** Final share of weights pruned (magnitude). */
  sparsity: number;
  /** magnitude: every weight at the same sparsity (layer) or one threshold over all (global). */
  scope: "global" | "layer";
  /** nm: weights kept in each group. */
  n: number;
  /** nm: group size along the input dimension. */
  m: number;
  schedule: PruneSchedule;
}

/** A Pruner's part of a checkpoint: each mask, bit-packed in base64, by parameter name. */
export interface PrunerState {
  masks: Record<string, string>;
}

interface Target {
  name: string;
  weight: Tensor;
  mask: Mask | null;
}

/**
 * Masks the weights of a model's Linear and Conv2d layers during training: after each optimizer
 * step it recomputes the masks on the schedule's update steps and zeroes the pruned weights, and
 * before each step it zeroes their gradients, so pruned weights stay exactly zero (momentum
 * cannot regrow them) and the gradient norm counts only live weights. The masks go into
 * checkpoints (stateDict), so a resumed run continues with the same ones. Weights whose input
 * dimension is not a multiple of m are left dense under nm (a 1-channel first convolution), as
 * ASP does.
 * @example
 * const pruner = new Pruner(model, { kind: "magnitude", sparsity: 0.8, scope: "layer", n: 2, m: 4, schedule: { start: 100, end: 1000, every: 100 } });
 * // each step: pruner.maskGradients(); optimizer.step(); pruner.afterStep(step);
 */
export class Pruner {
  private readonly targets: Target[];
  /** Weights nm leaves dense (input dimension not a multiple of m). */
  readonly skipped: string[] = [];

  constructor(
    model: Module,
    readonly options: MaskPruneOptions,
  ) {
    const seen = new Set<Tensor>();
    this.targets = [];
    for (const [name, module] of model.namedModules()) {
      if (!(module instanceof Linear || module instanceof Conv2d) || seen.has(module.weight)) continue;
      seen.add(module.weight);
      const weightName = name ? `${name}.weight` : "weight";
      if (module.weight.dtype !== "float32") throw new TypeError(`Pruner: ${weightName} is ${module.weight.dtype}; pruning masks float32 weights`);
      if (options.kind === "nm" && (module.weight.shape[1] ?? 1) % options.m !== 0) this.skipped.push(weightName);
      else this.targets.push({ name: weightName, weight: module.weight, mask: null });
    }
    if (this.targets.length === 0) throw new RangeError("Pruner: the model has no Linear or Conv2d weight to prune");
  }

  /** The sparsity the schedule asks for after `step` optimizer steps (nm: (m − n)/m from start on). */
  targetSparsity(step: number): number {
    const { kind, schedule, sparsity, n, m } = this.options;
    if (kind === "nm") return step >= schedule.start ? (m - n) / m : 0;
    return cubicSparsity(step, schedule, sparsity);
  }

  /** Share of the masked weights' elements that are pruned now. */
  sparsity(): number {
    let pruned = 0,
      total = 0;
    for (const t of this.targets) {
      total += t.weight.size;
      if (t.mask) for (const bit of t.mask) pruned += 1 - bit;
    }
    return pruned / total;
  }

  /** Each masked weight's mask (1 kept, 0 pruned) by parameter name; absent before the first update. */
  masks(): Map<string, Mask> {
    return new Map(this.targets.flatMap((t) => (t.mask ? [[t.name, t.mask] as [string, Mask]] : [])));
  }

  /** Zeroes the gradients of pruned weights (call before clipping and the optimizer step). */
  maskGradients(): void {
    for (const t of this.targets) if (t.mask && t.weight.grad) zeroPruned(t.weight.grad, t.mask);
  }

  /** After optimizer step `step` (1-based): recomputes the masks on an update step, then zeroes the pruned weights. */
  afterStep(step: number): void {
    const { kind, schedule, scope, n, m } = this.options;
    if (isUpdateStep(step, schedule) && (kind === "magnitude" || this.targets[0]!.mask === null)) {
      const weights = this.targets.map((t) => ({ name: t.name, values: t.weight.toHost() as Float32Array, shape: t.weight.shape, mask: t.mask }));
      const masks = kind === "nm" ? weights.map((w) => nmMask(w.values, w.shape, n, m)) : magnitudeMasks(weights, this.targetSparsity(step), scope);
      this.targets.forEach((t, i) => (t.mask = masks[i]!));
    }
    for (const t of this.targets) if (t.mask) zeroPruned(t.weight, t.mask);
  }

  /** The masks, for a checkpoint's meta. @example meta.prune = pruner.stateDict(); */
  stateDict(): PrunerState {
    return { masks: Object.fromEntries([...this.masks()].map(([name, mask]) => [name, packBits(mask)])) };
  }

  /** Restores the masks of a checkpoint (and zeroes the weights they prune). */
  loadStateDict(state: PrunerState): void {
    for (const t of this.targets) {
      const packed = state.masks[t.name];
      t.mask = packed === undefined ? null : unpackBits(packed, t.weight.size, t.name);
      if (t.mask) zeroPruned(t.weight, t.mask);
    }
  }
}

/** Zeroes t's elements where mask is 0, in place (a write that stales t's low-precision copy). */
function zeroPruned(t: Tensor, mask: Mask): void {
  const values = t.toHost();
  for (let i = 0; i < mask.length; i++) if (mask[i] === 0) values[i] = 0;
  t.version++;
}

function packBits(mask: Mask): string {
  const bytes = new Uint8Array(Math.ceil(mask.length / 8));
  for (let i = 0; i < mask.length; i++) if (mask[i]) bytes[i >> 3]! |= 1 << (i & 7);
  return Buffer.from(bytes).toString("base64");
}

function unpackBits(packed: string, size: number, name: string): Mask {
  const bytes = Buffer.from(packed, "base64");
  if (bytes.length !== Math.ceil(size / 8))
    throw new RangeError(`Pruner: the checkpoint's mask of ${name} has ${bytes.length} bytes, expected ${Math.ceil(size / 8)}`);
  const mask = new Uint8Array(size);
  for (let i = 0; i < size; i++) mask[i] = (bytes[i >> 3]! >> (i & 7)) & 1;
  return mask;
}
