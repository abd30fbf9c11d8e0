import { noGrad } from "../autograd/grad_mode.js";
import { add, mul, sub } from "../ops/binary.js";
import { addInPlace, scaleInPlace } from "../ops/inplace.js";
import { addLayerNorm } from "../ops/add_layer_norm.js";
import { layerNorm } from "../ops/norm.js";
import { mean } from "../ops/reduce.js";
import { rsqrt, square } from "../ops/unary.js";
import { detach, reshape } from "../ops/view.js";
import { ones, tensor, zeros } from "../tensor/create.js";
import { formatShape } from "../tensor/shape.js";
import { release } from "../tensor/scope.js";
import type { DType } from "../tensor/dtype.js";
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

  /**
   * `outputDtype`: see layerNorm (a bfloat16 output for the bfloat16 matmul that reads it). With
   * `residual`, the norm of x + residual and that sum, [sum, normed], from one fused op
   * (addLayerNorm): a pre-LayerNorm block's residual add and the norm after it.
   * @example const [stream, h] = ln2.forward(stream, attnOut, "bfloat16");
   */
  forward(x: Tensor, outputDtype?: DType): Tensor;
  forward(x: Tensor, residual: Tensor, outputDtype?: DType): [Tensor, Tensor];
  forward(x: Tensor, second?: Tensor | DType, outputDtype?: DType): Tensor | [Tensor, Tensor] {
    const [weight, bias] = [this.weight ?? undefined, this.bias ?? undefined];
    if (typeof second === "object") return addLayerNorm(x, second, this.normalizedShape, weight, bias, this.eps, outputDtype);
    return layerNorm(x, this.normalizedShape, weight, bias, this.eps, second);
  }
}

export interface BatchNormOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
}

/** running ← (1 − momentum)·running + momentum·batch, in place. */
function moveToward(running: Tensor, batch: Tensor, momentum: number): void {
  scaleInPlace(running, 1 - momentum);
  const flat = reshape(batch, [running.size]);
  const step = mul(flat, momentum);
  addInPlace(running, step);
  release(null, flat, step);
}

/**
 * Batch normalisation of [N, C, H, W] per channel, as F.batch_norm: in training the batch's
 * mean and (biased) variance normalise and the running averages move toward the batch's (the
 * variance unbiased) by `momentum`; in evaluation the running averages normalise.
 * @example const y = batchNorm2d(x, runningMean, runningVar, weight, bias, { training: true });
 */
export function batchNorm2d(x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor | null, bias: Tensor | null, options: BatchNormOptions): Tensor {
  const channels = runningMean.size;
  if (x.ndim !== 4 || x.shape[1] !== channels) throw new RangeError(`batchNorm2d: input ${formatShape(x.shape)} must be [N, ${channels}, H, W]`);
  const { momentum = 0.1, eps = 1e-5 } = options;
  const perChannel = [1, channels, 1, 1];
  let centered: Tensor, scale: Tensor;
  if (options.training) {
    const count = x.size / channels;
    if (count < 2) throw new RangeError(`batchNorm2d: training needs more than one value per channel, got input ${formatShape(x.shape)}`);
    const mu = mean(x, [0, 2, 3], true);
    centered = sub(x, mu);
    const sq = square(centered);
    const variance = mean(sq, [0, 2, 3], true);
    const shifted = add(variance, eps);
    scale = rsqrt(shifted);
    noGrad(() => {
      moveToward(runningMean, mu, momentum);
      const unbiased = mul(variance, count / (count - 1));
      moveToward(runningVar, unbiased, momentum);
      unbiased.dispose();
    });
    release(null, mu, sq, variance, shifted);
  } else {
    // Running statistics are buffers: no gradient reaches them.
    const dm = detach(runningMean),
      dv = detach(runningVar);
    const m = reshape(dm, perChannel),
      v = reshape(dv, perChannel);
    const shifted = add(v, eps);
    centered = sub(x, m);
    scale = rsqrt(shifted);
    release(null, dm, dv, m, v, shifted);
  }
  let y = release(mul(centered, scale), centered, scale);
  if (weight) {
    const w = reshape(weight, perChannel);
    y = release(mul(y, w), y, w);
  }
  if (bias) {
    const b = reshape(bias, perChannel);
    y = release(add(y, b), y, b);
  }
  return y;
}

/**
 * Batch normalisation over [N, C, H, W] with learned scale and shift and running statistics
 * (see batchNorm2d). State dict names follow PyTorch (running_mean, running_var,
 * num_batches_tracked), so weights interchange.
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
    const y = batchNorm2d(x, this.runningMean, this.runningVar, this.weight, this.bias, { training: this.training, momentum: this.momentum, eps: this.eps });
    if (this.training) (this.batchesTracked.data as Int32Array)[0]! += 1;
    return y;
  }
}
