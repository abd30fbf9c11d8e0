import { Tensor } from "../tensor/tensor.js";

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

function describe(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? String(value);
  return `an object with keys {${Object.keys(value).join(", ")}}`;
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
  if (samples.length === 0) throw new RangeError("collateLabelled: cannot make a batch of 0 samples");
  const shape = sampleShape ?? [(samples[0] as Partial<LabelledSample> | null)?.image?.length ?? 0];
  const size = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as Partial<LabelledSample> | null;
    if (!(s?.image instanceof Float32Array) || s.image.length !== size) {
      const got = s?.image instanceof Float32Array ? `image of ${s.image.length} values` : describe(s);
      throw new TypeError(
        `collateLabelled: sample ${i} is ${got}, expected { image: Float32Array(${size}) for shape [${shape.join(", ")}], label }; ` +
          "pass a collate function to the DataLoader for other samples",
      );
    }
    if (!Number.isInteger(s.label) || s.label! < -(2 ** 31) || s.label! >= 2 ** 31) {
      throw new RangeError(`collateLabelled: sample ${i} has label ${s.label}, expected an int32 integer`);
    }
  }
  const x = Tensor.empty([samples.length, ...shape], "float32");
  const y = Tensor.empty([samples.length], "int32");
  const xData = x.data as Float32Array;
  const yData = y.data as Int32Array;
  for (let i = 0; i < samples.length; i++) {
    xData.set(samples[i]!.image, i * size);
    yData[i] = samples[i]!.label;
  }
  return { x, y };
}
