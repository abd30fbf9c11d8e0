import { z } from "zod";

import { int } from "./config_fields.js";

/**
 * The config's `data` section: Fashion-MNIST, a text corpus or a token file, told apart by
 * `kind`, with the fields of parallel data loading and augmentation (worker threads, prefetch,
 * the transforms of src/data/transforms/) that they share.
 */

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

const seqLenWarmup = z
  .strictObject({
    start: int(1).describe("context length of the first step (at most model.context)"),
    steps: int(1).describe("steps over which the context grows to model.context"),
    pacing: z.enum(["linear", "root", "step"]).default("linear").describe("how the length grows: linear, root (fast then slow) or in 4 steps"),
    multiple: int(1).default(8).describe("lengths are rounded down to a multiple of this (never below start)"),
  })
  .describe("sequence-length warm-up: short training windows first (evaluation keeps the full context)");

/** The fields of training on random windows of a token stream (text and tokens), `what` naming the stream in their descriptions. */
const windowFields = (what: "text" | "tokens") => ({
  batchSize: int(1).default(32).describe("windows per training batch"),
  batchesPerEpoch: int(1).optional().describe(`batches per epoch of random windows (default: about one pass over the training ${what})`),
  valBatches: int(1).default(20).describe("fixed validation batches averaged for the validation loss"),
  trainFraction: z.number().gt(0).lt(1).default(0.9).describe(`leading share of the ${what} used for training; the rest validates`),
  seqLenWarmup: seqLenWarmup.optional(),
});

const text = z
  .strictObject({
    kind: z.literal("text").describe("a character-level corpus: the King James Bible (Debian's bible-kjv) or any UTF-8 file"),
    path: z.string().optional().describe("a UTF-8 text file (default: the KJV text, extracted once and cached)"),
    ...windowFields("text"),
    ...loaderFields,
  })
  .describe("text");

const tokens = z
  .strictObject({
    kind: z.literal("tokens").describe("a token file made by `turbine data prepare`, read from disk a window at a time (corpora larger than memory)"),
    path: z.string().min(1).describe("the token file"),
    ...windowFields("tokens"),
  })
  .describe("tokens");

const fashionMnist = z
  .strictObject({
    kind: z.literal("fashion-mnist").describe("Fashion-MNIST from Debian's dataset-fashion-mnist (IDX files)"),
    root: z.string().optional().describe("folder of the IDX .gz files (default: the Debian package's)"),
    batchSize: int(1).default(128).describe("training batch size"),
    evalBatchSize: int(1).default(1000).describe("evaluation batch size"),
    shuffle: z.boolean().default(true).describe("reshuffle the training set every epoch (seeded)"),
    curriculum: z
      .strictObject({
        scores: z.string().min(1).describe("JSON file: an array of one difficulty score per training sample, lower is easier"),
        pacing: z.enum(["linear", "root", "step"]).default("linear").describe("how the pool of admitted easiest samples grows"),
        start: z.number().gt(0).max(1).default(0.2).describe("share of the training set admitted at first"),
        steps: int(1).describe("epochs (or steps, with per: step) until the whole training set is admitted"),
        per: z.enum(["epoch", "step"]).default("epoch").describe("whether the pool grows once per epoch or once per optimizer step"),
      })
      .optional()
      .describe("curriculum learning: train on the easiest samples first (replaces shuffle)"),
    cache: z
      .enum(["memory", "disk", "none"])
      .default("memory")
      .describe(
        "keep the decoded images in memory for this process, also on disk ($TURBINE_CACHE, else $XDG_CACHE_HOME/turbine or ~/.cache/turbine) for later runs, or decode every time",
      ),
    ...loaderFields,
    augment: augmentField,
  })
  .describe("fashion-mnist");

/** The `data` section: one of fashion-mnist, text and tokens by `kind`. @example dataSection.parse({ kind: "text" }) */
export const dataSection = z.discriminatedUnion("kind", [fashionMnist, text, tokens]).describe("data");
