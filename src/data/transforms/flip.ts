import { checkProbability, imageDims, imageOf, newImage, type ImageSample, type SampleTransform } from "./image.js";

/** Mirrors the image left to right with probability p, as torchvision's RandomHorizontalFlip. */
export interface RandomHorizontalFlipSpec {
  kind: "randomHorizontalFlip";
  /** Probability of flipping (default 0.5). */
  p?: number;
}

/**
 * The flip transform for samples of `shape`: one draw per sample, flip when it is below p.
 * @example makeRandomHorizontalFlip({ kind: "randomHorizontalFlip" }, [1, 28, 28])
 */
export function makeRandomHorizontalFlip(spec: RandomHorizontalFlipSpec, shape: readonly number[] | undefined): SampleTransform<ImageSample> {
  const dims = imageDims(shape, "randomHorizontalFlip");
  const p = checkProbability(spec.p ?? 0.5, "randomHorizontalFlip: p");
  const { width } = dims;
  return (sample, context) => {
    const src = imageOf(sample, dims, "randomHorizontalFlip");
    if (!(context.rng.nextFloat() < p)) return sample;
    const out = newImage(context, src.length, src);
    for (let row = 0; row < src.length; row += width) {
      for (let j = 0; j < width; j++) out[row + j] = src[row + width - 1 - j]!;
    }
    return { ...sample, image: out };
  };
}
