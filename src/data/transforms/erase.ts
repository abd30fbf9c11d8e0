import { checkProbability, checkRange, imageDims, imageOf, newImage, type ImageSample, type SampleTransform } from "./image.js";

/**
 * Random erasing (Zhong et al., 2017) as torchvision's RandomErasing: with probability p, a
 * rectangle of random area (a `scale` share of the image) and aspect ratio (log-uniform in
 * `ratio`) is set to `value` in every channel; up to 10 draws look for one that fits, and
 * when none does the image is left as it is.
 */
export interface RandomErasingSpec {
  kind: "randomErasing";
  /** Probability of erasing (default 0.5). */
  p?: number;
  /** Range of the erased share of the area (default [0.02, 0.33]). */
  scale?: readonly [number, number];
  /** Range of the rectangle's aspect ratio h/w (default [0.3, 3.3]). */
  ratio?: readonly [number, number];
  /** Value written into the rectangle (default 0). */
  value?: number;
}

const ATTEMPTS = 10;

/**
 * The erasing transform for samples of `shape`.
 * @example makeRandomErasing({ kind: "randomErasing", p: 0.25 }, [1, 28, 28])
 */
export function makeRandomErasing(spec: RandomErasingSpec, shape: readonly number[] | undefined): SampleTransform<ImageSample> {
  const dims = imageDims(shape, "randomErasing");
  const p = checkProbability(spec.p ?? 0.5, "randomErasing: p");
  const [sLow, sHigh] = checkRange(spec.scale ?? [0.02, 0.33], "randomErasing: scale", true);
  const [rLow, rHigh] = checkRange(spec.ratio ?? [0.3, 3.3], "randomErasing: ratio", true);
  const value = spec.value ?? 0;
  if (!Number.isFinite(value)) throw new RangeError(`randomErasing: value must be a finite number, got ${JSON.stringify(spec.value)}`);
  const { channels, height, width } = dims;
  const area = height * width,
    logLow = Math.log(rLow),
    logHigh = Math.log(rHigh);
  return (sample, context) => {
    const { rng } = context;
    const src = imageOf(sample, dims, "randomErasing");
    if (!(rng.nextFloat() < p)) return sample;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const target = area * (sLow + (sHigh - sLow) * rng.nextFloat());
      const aspect = Math.exp(logLow + (logHigh - logLow) * rng.nextFloat());
      const h = Math.round(Math.sqrt(target * aspect));
      const w = Math.round(Math.sqrt(target / aspect));
      if (!(h < height && w < width) || h < 1 || w < 1) continue;
      const top = rng.below(height - h + 1);
      const left = rng.below(width - w + 1);
      const out = newImage(context, src.length, src);
      out.set(src);
      for (let c = 0; c < channels; c++) {
        for (let i = top; i < top + h; i++) out.fill(value, (c * height + i) * width + left, (c * height + i) * width + left + w);
      }
      return { ...sample, image: out };
    }
    return sample;
  };
}
