import { imageDims, imageOf, newImage, type ImageSample, type SampleTransform } from "./image.js";

/** Per-channel (x − mean[c]) / std[c], as torchvision's Normalize. */
export interface NormalizeSpec {
  kind: "normalize";
  /** One mean for all channels, or one per channel. */
  mean: number | readonly number[];
  /** One standard deviation for all channels, or one per channel (each > 0). */
  std: number | readonly number[];
}

function perChannel(value: number | readonly number[], channels: number, name: string, positive: boolean): number[] {
  const values = typeof value === "number" ? Array<number>(channels).fill(value) : [...(value ?? [])];
  if (values.length !== channels || !values.every((v) => Number.isFinite(v) && (!positive || v > 0))) {
    throw new RangeError(
      `normalize: ${name} must be ${positive ? "a positive number" : "a number"} or ${channels} of them (one per channel), got ${JSON.stringify(value)}`,
    );
  }
  return values;
}

/**
 * The normalize transform for samples of `shape`.
 * @example makeNormalize({ kind: "normalize", mean: 0.5, std: 0.25 }, [1, 28, 28])
 */
export function makeNormalize(spec: NormalizeSpec, shape: readonly number[] | undefined): SampleTransform<ImageSample> {
  const dims = imageDims(shape, "normalize");
  const mean = perChannel(spec.mean, dims.channels, "mean", false);
  const std = perChannel(spec.std, dims.channels, "std", true);
  const plane = dims.height * dims.width;
  return (sample, context) => {
    const src = imageOf(sample, dims, "normalize");
    const out = newImage(context, src.length, src);
    for (let c = 0; c < dims.channels; c++) {
      const m = mean[c]!,
        inv = 1 / std[c]!;
      for (let k = c * plane; k < (c + 1) * plane; k++) out[k] = (src[k]! - m) * inv;
    }
    return { ...sample, image: out };
  };
}
