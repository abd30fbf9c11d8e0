import { z } from "zod";

/**
 * The config fields of parallel data loading and augmentation (worker threads, prefetch, the
 * transforms of src/data/transforms/), shared by the data kinds of config.ts.
 */

const int = (min: number) => z.number().int().min(min);
const pair = (item: z.ZodNumber) => z.tuple([item, item]);

/** Worker threads and prefetch, for any training data. */
export const loaderFields = {
  numWorkers: int(0).max(64).default(0).describe("worker threads that make training batches (0: the training thread makes them)"),
  prefetchFactor: int(1).max(64).default(2).describe("batches each worker works ahead"),
};

const augmentation = z.discriminatedUnion("kind", [
  z
    .strictObject({
      kind: z.literal("normalize").describe("per-channel (x − mean) / std"),
      mean: z.union([z.number(), z.array(z.number()).min(1)]).describe("mean, one or per channel"),
      std: z.union([z.number().positive(), z.array(z.number().positive()).min(1)]).describe("standard deviation, one or per channel"),
    })
    .describe("normalize"),
  z
    .strictObject({
      kind: z.literal("randomCrop").describe("pad every side, then crop a random window"),
      size: z
        .union([int(1), pair(z.number().int().min(1))])
        .optional()
        .describe("output side or [height, width] (default: the image's)"),
      padding: int(0).default(0).describe("pixels added on each side before cropping"),
      fill: z
        .union([z.number(), z.literal("black")])
        .default("black")
        .describe('padding value; "black" is a black pixel after normalisation'),
    })
    .describe("randomCrop"),
  z
    .strictObject({
      kind: z.literal("randomHorizontalFlip").describe("mirror left to right"),
      p: z.number().min(0).max(1).default(0.5).describe("probability of flipping"),
    })
    .describe("randomHorizontalFlip"),
  z
    .strictObject({
      kind: z.literal("randomErasing").describe("set a random rectangle to a value (Zhong et al.)"),
      p: z.number().min(0).max(1).default(0.5).describe("probability of erasing"),
      scale: pair(z.number().positive()).default([0.02, 0.33]).describe("range of the erased share of the area"),
      ratio: pair(z.number().positive()).default([0.3, 3.3]).describe("range of the rectangle's aspect ratio"),
      value: z.number().default(0).describe("value written into the rectangle"),
    })
    .describe("randomErasing"),
]);

/** Image augmentation, applied in order to each training sample in the workers, seeded per sample. */
export const augmentField = z
  .array(augmentation)
  .default([])
  .describe("transforms applied in order to each training sample, seeded per sample: normalize, randomCrop, randomHorizontalFlip, randomErasing");

export type AugmentConfig = z.output<typeof augmentField>;
