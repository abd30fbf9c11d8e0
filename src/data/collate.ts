import type { Tensor } from "../tensor/tensor.js";
import { collateWith, labelledLayout } from "./layout.js";

/** A supervised sample: the input as float32 values (row-major) and an integer class label. */
export interface LabelledSample {
  image: Float32Array;
  label: number;
}

/** A batch of labelled samples: inputs x [B, ...sampleShape] float32 and labels y [B] int32. */
export interface LabelledBatch {
  x: Tensor;
  y: Tensor;
}

/**
 * Stacks labelled samples into one batch, copying each image into a single pooled tensor
 * (`Tensor.empty`, memory category "activation"). The batch belongs to the caller, who
 * disposes x and y after the step (the Trainer does so after each optimizer step).
 *
 * @example
 * const { x, y } = collateLabelled([train.get(0), train.get(1)], [1, 28, 28]);
 * x.shape; // [2, 1, 28, 28]
 * x.dispose(); y.dispose();
 */
export function collateLabelled(samples: readonly LabelledSample[], sampleShape?: readonly number[]): LabelledBatch {
  const shape = sampleShape ?? [(samples[0] as Partial<LabelledSample> | null)?.image?.length ?? 0];
  return collateWith(labelledLayout(shape), samples, "collateLabelled");
}
