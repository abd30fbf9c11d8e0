import { type ImageDims, imageDims, imageOf, newImage, type ImageSample, type SampleTransform } from "./image.js";

/**
 * A random crop of the image after padding every side, as torchvision's RandomCrop with
 * padding_mode "constant": pad by `padding` with `fill`, then cut a size×size (or h×w) window
 * whose top-left corner is uniform over every position where it fits.
 */
export interface RandomCropSpec {
  kind: "randomCrop";
  /** Output side, or [height, width] (default: the image's own size, as in the usual pad-and-crop). */
  size?: number | readonly [number, number];
  /** Pixels added on each side before cropping (default 0). */
  padding?: number;
  /**
   * Value of the padding (default 0), in the sample's value space: for Fashion-MNIST's
   * normalised pixels, black is `FashionMNIST.black`.
   */
  fill?: number;
}

/**
 * The shape of a crop's output for inputs of `shape`: the same channels, the crop's height and width.
 * @example cropShape({ kind: "randomCrop", size: 24 }, [1, 28, 28]) // [1, 24, 24]
 */
export function cropShape(spec: RandomCropSpec, shape: readonly number[]): number[] {
  const [h, w] = cropSize(spec, imageDims(shape, "randomCrop"));
  return shape.length === 3 ? [shape[0]!, h, w] : [h, w];
}

function cropSize(spec: RandomCropSpec, dims: ImageDims): [number, number] {
  return spec.size === undefined ? [dims.height, dims.width] : typeof spec.size === "number" ? [spec.size, spec.size] : [spec.size[0], spec.size[1]];
}

/**
 * The crop transform for samples of `shape`; the output keeps the channel count and has the
 * crop's height and width.
 * @example makeRandomCrop({ kind: "randomCrop", padding: 4 }, [3, 32, 32])
 */
export function makeRandomCrop(spec: RandomCropSpec, shape: readonly number[] | undefined): SampleTransform<ImageSample> {
  const dims = imageDims(shape, "randomCrop");
  const [outH, outW] = cropSize(spec, dims);
  const padding = spec.padding ?? 0;
  const fill = spec.fill ?? 0;
  if (!Number.isInteger(padding) || padding < 0)
    throw new RangeError(`randomCrop: padding must be a non-negative integer, got ${JSON.stringify(spec.padding)}`);
  if (!Number.isFinite(fill)) throw new RangeError(`randomCrop: fill must be a finite number, got ${JSON.stringify(spec.fill)}`);
  const paddedH = dims.height + 2 * padding,
    paddedW = dims.width + 2 * padding;
  if (!Number.isInteger(outH) || !Number.isInteger(outW) || outH < 1 || outW < 1 || outH > paddedH || outW > paddedW) {
    throw new RangeError(`randomCrop: size ${JSON.stringify(spec.size)} must be positive integers no larger than the padded image ${paddedH}×${paddedW}`);
  }
  const { channels, height, width } = dims;
  return (sample, context) => {
    const { rng } = context;
    const src = imageOf(sample, dims, "randomCrop");
    // Top-left corner of the window in padded coordinates, then shifted into the image's.
    const top = rng.below(paddedH - outH + 1) - padding;
    const left = rng.below(paddedW - outW + 1) - padding;
    const out = newImage(context, channels * outH * outW, src);
    if (top < 0 || left < 0 || top + outH > height || left + outW > width) out.fill(fill);
    const i0 = Math.max(0, -top),
      i1 = Math.min(outH, height - top);
    const j0 = Math.max(0, -left),
      j1 = Math.min(outW, width - left);
    for (let c = 0; c < channels; c++) {
      for (let i = i0; i < i1; i++) {
        const from = (c * height + top + i) * width + left,
          to = (c * outH + i) * outW;
        for (let j = j0; j < j1; j++) out[to + j] = src[from + j]!;
      }
    }
    return { ...sample, image: out };
  };
}
