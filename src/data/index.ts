/**
 * The data layer: datasets, samplers and the DataLoader that turns them into batches.
 *
 * @example
 * import { data } from "turbine";
 * const train = data.FashionMNIST.load({ split: "train" });
 * const loader = new data.DataLoader(train, { batchSize: 256, shuffle: true, seed: 0 });
 * const kjv = data.loadTextCorpus({ context: 128 });   // char-level text, split 90/10
 * const big = data.TokenFileDataset.split(data.TokenFile.open("corpus.tokens"), { context: 128 });
 * const augmented = new data.DataLoader(train, {
 *   batchSize: 128, shuffle: true, numWorkers: 1,
 *   transform: [{ kind: "randomCrop", padding: 2, fill: data.FashionMNIST.black }, { kind: "randomHorizontalFlip" }],
 * });
 */
export { ArrayDataset, Subset, randomSplit, checkIndex, type Dataset } from "./dataset.js";
export { collateLabelled, type LabelledSample, type LabelledBatch } from "./collate.js";
export { SequentialSampler, RandomSampler, EvenlySpacedSampler, type Sampler } from "./sampler.js";
export { DataLoader, type DataLoaderOptions, type LoaderState } from "./dataloader.js";
export { FashionMNIST, type FashionMNISTOptions, type FashionMNISTSplit, type FashionMNISTCache } from "./fashion_mnist.js";
export { readIdxGz, type IdxArray } from "./idx.js";
export { Rng, splitmix64 } from "./random.js";
export { UniformSampler, type UniformSamplerOptions } from "./uniform_sampler.js";
export { CharTokenizer, type CharTokenizerJSON } from "./tokenizer.js";
export { cacheDir, readCached, writeCached } from "./cache.js";
export { loadKjv, type KjvOptions } from "./kjv.js";
export {
  TextDataset,
  TooFewTokensError,
  collateTokens,
  randomWindowLoader,
  fixedWindowLoader,
  trainSplitPoint,
  type TokenWindow,
  type TokenBatch,
  type TextLoaderOptions,
  type WindowDataset,
} from "./text.js";
export { loadTextCorpus, readTextFile, type TextCorpus, type TextCorpusOptions } from "./corpus.js";
export { TokenFile, TokenFileWriter, TokenFileError, bytesPerToken, tokenDType, type TokenDType } from "./token_file.js";
export { DataFileError } from "./data_file_error.js";
export { TokenFileDataset } from "./token_dataset.js";
export { prepareTokenFile, PrepareInterrupted, type PrepareOptions, type PrepareResult } from "./prepare.js";
export { cachedArrays, type ArrayCacheKey, type ArrayCacheOptions, type ArrayRecord } from "./array_cache.js";
export { pacing, PACINGS, type PacingKind, type PacingOptions } from "./pacing.js";
export { CurriculumSampler, readScores, type CurriculumSamplerOptions } from "./curriculum.js";
export { SeqLenWarmup, type SeqLenWarmupOptions } from "./seq_len_warmup.js";
export { buildTransform, TRANSFORM_KINDS, type TransformSpec, type BuiltTransform } from "./transforms/compose.js";
export type { ImageSample, SampleTransform, TransformContext } from "./transforms/image.js";
export type { NormalizeSpec } from "./transforms/normalize.js";
export type { RandomCropSpec } from "./transforms/crop.js";
export type { RandomHorizontalFlipSpec } from "./transforms/flip.js";
export type { RandomErasingSpec } from "./transforms/erase.js";
export { labelledLayout, tokenLayout, collateWith, type BatchLayout, type BatchField } from "./layout.js";
export { workerSpecOf, loadDataset, type WorkerSpec, type WorkerDataset } from "./worker_spec.js";
export { DataLoaderWorkerError, type WorkerPool } from "./worker_pool.js";
export { SampleError } from "./batch_maker.js";
