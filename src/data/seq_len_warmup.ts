import { Tensor } from "../tensor/tensor.js";
import { pacing, type PacingKind } from "./pacing.js";
import type { TokenBatch } from "./text.js";

export interface SeqLenWarmupOptions {
  /** Context length of the first step (≥ 1, ≤ full). */
  start: number;
  /** Steps over which the length grows to `full`. */
  steps: number;
  /** The model's full context. */
  full: number;
  /** How the length grows between start and full (default linear). */
  pacing?: PacingKind;
  /** Lengths are rounded down to a multiple of this, but never below start (default 8). */
  multiple?: number;
}

/**
 * Sequence-length warm-up for language models (Li, Zhang and He, "The Stability-Efficiency
 * Dilemma", NeurIPS 2022; DeepSpeed's seqlen curriculum): the first steps train on short
 * windows, and the context grows from `start` to `full` over `steps` steps along a pacing
 * function (pacing.ts), in multiples of `multiple` so kernels see few distinct shapes. The
 * length is a pure function of the optimizer step, so every micro-batch of a step shares it
 * and a resumed run repeats it.
 *
 * A short batch is the full batch's windows cut to their first L tokens: the windows of
 * length L at the same starts, exactly what a dataset of context L returns for those starts
 * (random starts stay uniform). Evaluation keeps the full context, so validation losses stay
 * comparable across the warm-up.
 *
 * @example
 * const warmup = new SeqLenWarmup({ start: 32, steps: 500, full: 128 });
 * warmup.lengthAt(0);    // 32
 * warmup.lengthAt(250);  // 80
 * warmup.lengthAt(500);  // 128
 * const short = warmup.crop(batch, step); // x, y [B, lengthAt(step)]
 */
export class SeqLenWarmup {
  readonly start: number;
  readonly steps: number;
  readonly full: number;
  readonly multiple: number;
  private readonly g: (t: number) => number;

  constructor(options: SeqLenWarmupOptions) {
    const { start, steps, full, multiple = 8 } = options;
    if (!Number.isSafeInteger(full) || full < 1) throw new RangeError(`SeqLenWarmup: full must be a positive integer, got ${full}`);
    if (!Number.isSafeInteger(start) || start < 1 || start > full)
      throw new RangeError(`SeqLenWarmup: start must be an integer in [1, ${full}] (the full context), got ${start}`);
    if (!Number.isSafeInteger(multiple) || multiple < 1) throw new RangeError(`SeqLenWarmup: multiple must be a positive integer, got ${multiple}`);
    this.g = pacing({ kind: options.pacing ?? "linear", start: start / full, steps });
    this.start = start;
    this.steps = steps;
    this.full = full;
    this.multiple = multiple;
  }

  /**
   * The context length of optimizer step `step` (0-based).
   * @example new SeqLenWarmup({ start: 8, steps: 10, full: 64 }).lengthAt(5) // 32
   */
  lengthAt(step: number): number {
    if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`SeqLenWarmup: step must be a non-negative integer, got ${step}`);
    if (step >= this.steps) return this.full;
    const exact = this.g(step) * this.full;
    // The small epsilon keeps a length that is exactly a multiple (up to round-off) from dropping a whole multiple.
    return Math.min(this.full, Math.max(this.start, Math.floor(exact / this.multiple + 1e-9) * this.multiple));
  }

  /**
   * The batch for step `step`: `batch` itself at full length, else new [B, L] tensors holding
   * each window's first L tokens (the input batch is disposed).
   * @example const { x, y } = warmup.crop(loaderBatch, trainer.step);
   */
  crop(batch: TokenBatch, step: number): TokenBatch {
    const length = this.lengthAt(step);
    const [rows, context] = batch.x.shape as [number, number];
    if (batch.x.ndim !== 2 || context !== this.full) {
      throw new RangeError(`SeqLenWarmup: batch x [${batch.x.shape.join(", ")}] must be [B, ${this.full}] (the full context)`);
    }
    if (length === context) return batch;
    const cut = (t: Tensor): Tensor => {
      const out = Tensor.empty([rows, length], "int32");
      const src = t.data as Int32Array,
        dst = out.data as Int32Array;
      for (let r = 0; r < rows; r++) dst.set(src.subarray(r * context, r * context + length), r * length);
      t.dispose();
      return out;
    };
    return { x: cut(batch.x), y: cut(batch.y) };
  }
}
