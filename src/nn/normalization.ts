import { noGrad } from "../autograd/grad_mode.js";
import { add, mul, sub } from "../ops/binary.js";
import { addInPlace, scaleInPlace } from "../ops/inplace.js";
import { layerNorm } from "../ops/norm.js";
import { mean } from "../ops/reduce.js";
import { rsqrt, square } from "../ops/unary.js";
import { reshape } from "../ops/view.js";
import { ones, tensor, zeros } from "../tensor/create.js";
import { formatShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

/**
 * Layer normalisation over the trailing `normalizedShape` axes, with a learned scale and
 * shift (PyTorch's elementwise_affine), on the fused native kernel.
 * @example new LayerNorm([256])
 */
export class LayerNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly normalizedShape: number[];

  constructor(
    normalizedShape: number | number[],
    readonly eps = 1e-5,
    affine = true,
  ) {
    super();
    this.normalizedShape = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
    this.weight = this.addParameter("weight", affine ? ones(this.normalizedShape) : null);
    this.bias = this.addParameter("bias", affine ? zeros(this.normalizedShape) : null);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight ?? undefined, this.bias ?? undefined, this.eps);
  }
}

/**
 * Batch normalisation over [N, C, H, W]: batch statistics in training mode (and running
 * averages updated with `momentum`, the variance unbiased), the running averages in eval mode.
 * State dict names follow PyTorch (running_mean, running_var, num_batches_tracked).
 * @example new BatchNorm2d(32)
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly batchesTracked: Tensor;

  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.addParameter("weight", ones([channels]));
    this.bias = this.addParameter("bias", zeros([channels]));
    this.runningMean = this.addBuffer("running_mean", zeros([channels]));
    this.runningVar = this.addBuffer("running_var", ones([channels]));
    this.batchesTracked = this.addBuffer("num_batches_tracked", tensor(0, { dtype: "int32" }));
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.channels) {
      throw new RangeError(`BatchNorm2d: input ${formatShape(x.shape)} must be [N, ${this.channels}, H, W]`);
    }
    const perChannel = [1, this.channels, 1, 1];
    const w = reshape(this.weight, perChannel), b = reshape(this.bias, perChannel);
    let centered: Tensor, scale: Tensor;
    if (this.training) {
      const count = x.size / this.channels;
      if (count < 2) throw new RangeError(`BatchNorm2d: training needs more than one value per channel, got input ${formatShape(x.shape)}`);
      const mu = mean(x, [0, 2, 3], true);
      centered = sub(x, mu);
      const variance = mean(square(centered), [0, 2, 3], true);
      scale = rsqrt(add(variance, this.eps));
      noGrad(() => {
        this.updateRunning(this.runningMean, mu);
        const unbiased = mul(variance, count / (count - 1));
        this.updateRunning(this.runningVar, unbiased);
        unbiased.dispose();
        (this.batchesTracked.data as Int32Array)[0]! += 1;
      });
      mu.dispose();
      variance.dispose();
    } else {
      centered = sub(x, reshape(this.runningMean, perChannel));
      scale = rsqrt(add(reshape(this.runningVar, perChannel), this.eps));
    }
    const normalized = mul(centered, scale);
    const y = add(mul(normalized, w), b);
    for (const t of [centered, scale, normalized, w, b]) t.dispose();
    return y;
  }

  private updateRunning(running: Tensor, batch: Tensor): void {
    scaleInPlace(running, 1 - this.momentum);
    const step = mul(reshape(batch, [this.channels]), this.momentum);
    addInPlace(running, step);
    step.dispose();
  }
}
