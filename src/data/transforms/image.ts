import type { Rng } from "../random.js";

/** A sample whose main tensor is an image (the Fashion-MNIST samples: { image, label }). */
export interface ImageSample {
  image: Float32Array;
  [field: string]: unknown;
}

/** What a transform is given besides the sample: its own random stream and the sample's shape. */
export interface TransformContext {
  /** The stream of this sample in this epoch (`Rng.forSample`), the same in every worker. */
  rng: Rng;
  /** The dataset's sampleShape: [C, H, W] or [H, W] for images. */
  shape: readonly number[];
  /**
   * Memory for a new image of `length` values that is not `input` (default: fresh memory).
   * The batch maker passes scratch memory that it reuses sample after sample, since it copies
   * each transformed sample into its batch at once: no garbage per sample.
   */
  output?: (length: number, input: Float32Array) => Float32Array;
}

/**
 * Where a transform writes its result: the context's scratch memory, or a new array.
 * @example const out = newImage(context, src.length, src);
 */
export function newImage(context: TransformContext, length: number, input: Float32Array): Float32Array {
  return context.output ? context.output(length, input) : new Float32Array(length);
}

/** Transforms a sample into a new one; never writes into the sample it is given (datasets hand out views). */
export type SampleTransform<S = ImageSample> = (sample: S, context: TransformContext) => S;

/** Channels, height and width of an image shape [C, H, W] or [H, W]. */
export interface ImageDims {
  channels: number;
  height: number;
  width: number;
}

/**
 * Reads [C, H, W] (or [H, W], one channel) from a sample shape, naming the transform when the
 * shape is not an image's.
 * @example imageDims([1, 28, 28], "randomCrop") // { channels: 1, height: 28, width: 28 }
 */
export function imageDims(shape: readonly number[] | undefined, where: string): ImageDims {
  if (shape === undefined || (shape.length !== 2 && shape.length !== 3)) {
    throw new RangeError(`${where}: samples must be images of shape [C, H, W] or [H, W], got ${shape ? `[${shape.join(", ")}]` : "no sampleShape"}`);
  }
  const [channels, height, width] = shape.length === 3 ? (shape as [number, number, number]) : [1, shape[0]!, shape[1]!];
  return { channels, height, width };
}

/**
 * The image of a sample, checked against the shape it should have.
 * @example const pixels = imageOf(sample, dims, "randomHorizontalFlip");
 */
export function imageOf(sample: ImageSample, dims: ImageDims, where: string): Float32Array {
  const image = (sample as Partial<ImageSample> | null)?.image;
  const size = dims.channels * dims.height * dims.width;
  if (!(image instanceof Float32Array) || image.length !== size) {
    const got = image instanceof Float32Array ? `an image of ${image.length} values` : "no Float32Array image";
    throw new TypeError(`${where}: the sample has ${got}, expected ${size} (${dims.channels}×${dims.height}×${dims.width})`);
  }
  return image;
}

/**
 * Throws unless `value` is a probability in [0, 1].
 * @example checkProbability(spec.p ?? 0.5, "randomHorizontalFlip: p")
 */
export function checkProbability(value: unknown, what: string): number {
  if (typeof value !== "number" || !(value >= 0 && value <= 1)) throw new RangeError(`${what} must be a probability in [0, 1], got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Throws unless `value` is a [low, high] pair of finite numbers with low ≤ high (and low > 0 when `positive`).
 * @example checkRange(spec.scale ?? [0.02, 0.33], "randomErasing: scale", true)
 */
export function checkRange(value: unknown, what: string, positive = false): [number, number] {
  const ok = Array.isArray(value) && value.length === 2 && value.every((v) => Number.isFinite(v) && (!positive || v > 0)) && value[0] <= value[1];
  if (!ok) throw new RangeError(`${what} must be [low, high] with low ≤ high${positive ? ", both > 0" : ""}, got ${JSON.stringify(value)}`);
  return value as [number, number];
}
