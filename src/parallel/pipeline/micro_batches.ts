import { noGrad } from "../../autograd/grad_mode.js";
import { addInPlace } from "../../ops/inplace.js";
import { concat, slice } from "../../ops/layout.js";
import type { Tensor } from "../../tensor/tensor.js";

/**
 * A batch cut into m equal micro-batches along its first dimension. Where the batch asks for its
 * gradient, each micro-batch is a leaf of its own and the batch's gradient is assembled once, by
 * `finish()`, after the step's backwards: through `slice`'s backward every micro-batch would
 * zero-fill and add a gradient of the whole batch (m times its size), so the first stage's
 * backward would grow with m and the stages after it would idle that much each micro-batch.
 *
 * @example
 * const xs = new MicroBatches(x, 4);   // xs.parts[i]: rows [i·b/4, (i+1)·b/4)
 * ... run the forwards and backwards on xs.parts ...
 * xs.finish();                          // x.grad (where x requires it), then the parts are disposed
 */
export class MicroBatches {
  readonly parts: Tensor[];

  constructor(
    private readonly batch: Tensor,
    m: number,
  ) {
    const rows = batch.shape[0]!;
    if (rows % m !== 0)
      throw new RangeError(`pipeline: a batch of ${rows} cannot be split into ${m} micro-batches (parallel.microBatches must divide the batch size)`);
    const cut = (): Tensor[] => Array.from({ length: m }, (_, i) => slice(batch, 0, (i * rows) / m, ((i + 1) * rows) / m));
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
