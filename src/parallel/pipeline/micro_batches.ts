import { noGrad } from "../../autograd/grad_mode.js";
import { addInPlace } from "../../ops/inplace.js";
import { concat, slice } from "../../ops/layout.js";
import type { Tensor } from "../../tensor/tensor.js";

/**
 * A batch cut into m micro-batches along its first dimension, as equal as the rows allow (the
 * first rows % m parts one row longer, as torch.tensor_split cuts); a batch of fewer rows than m
 * (an epoch's short last batch) into one micro-batch per row. `weights[i]` is part i's share of
 * the rows: a step weighs each micro-batch's mean loss by it, so the step's loss and gradients
 * are the whole batch's mean however it was cut. Where the batch asks for its gradient, each
 * micro-batch is a leaf of its own and the batch's gradient is assembled once, by `finish()`,
 * after the step's backwards: through `slice`'s backward every micro-batch would zero-fill and
 * add a gradient of the whole batch (m times its size), so the first stage's backward would
 * grow with m and the stages after it would idle that much each micro-batch.
 *
 * @example
 * const xs = new MicroBatches(x, 4);   // xs.parts[i]: rows [i·b/4, (i+1)·b/4) when 4 divides b
 * ... run the forwards and backwards on xs.parts, weighing part i's loss by xs.weights[i] ...
 * xs.finish();                          // x.grad (where x requires it), then the parts are disposed
 */
export class MicroBatches {
  readonly parts: Tensor[];
  readonly weights: number[];

  constructor(
    private readonly batch: Tensor,
    m: number,
  ) {
    const rows = batch.shape[0]!;
    if (!Number.isInteger(m) || m < 1) throw new RangeError(`pipeline: micro-batches must be a positive integer, got ${m}`);
    if (rows < 1) throw new RangeError("pipeline: a batch of 0 rows has no micro-batches");
    const count = Math.min(m, rows);
    const sizes = Array.from({ length: count }, (_, i) => Math.floor(rows / count) + (i < rows % count ? 1 : 0));
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    // rows/count/rows when the parts are equal: exactly the 1/m of an even cut.
    this.weights = sizes.map((size) => size / rows);
    const cut = (): Tensor[] => sizes.map((size, i) => slice(batch, 0, starts[i]!, starts[i]! + size));
    if (!batch.requiresGrad) {
      this.parts = cut();
      return;
    }
    this.parts = noGrad(cut);
    for (const part of this.parts) part.requiresGrad = true;
  }

  /** Adds the micro-batches' gradients (where any got one: the first stage) to the batch's, and disposes the micro-batches. */
  finish(): void {
    const grads = this.parts.map((p) => p.grad);
    if (this.batch.requiresGrad && grads.every((g) => g)) {
      const whole = noGrad(() => concat(grads as Tensor[], 0));
      if (this.batch.grad && !this.batch.grad.disposed) {
        addInPlace(this.batch.grad, whole);
        whole.dispose();
      } else {
        whole.kept = true;
        whole.category = "gradient";
        this.batch.grad = whole;
      }
    }
    for (const p of this.parts) {
      p.grad?.dispose();
      p.dispose();
    }
  }
}
