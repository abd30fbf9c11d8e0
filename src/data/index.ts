/**
 * The data layer: datasets, samplers and the DataLoader that turns them into batches.
 *
 * @example
 * import { data } from "turbine";
 * const train = data.FashionMNIST.load({ split: "train" });
 * const loader = new data.DataLoader(train, { batchSize: 256, shuffle: true, seed: 0 });
 */
export { ArrayDataset, Subset, randomSplit, checkIndex, type Dataset } from "./dataset.js";
export { collateLabelled, type LabelledSample, type LabelledBatch } from "./collate.js";
export { SequentialSampler, RandomSampler, type Sampler } from "./sampler.js";
export { DataLoader, type DataLoaderOptions, type LoaderState } from "./dataloader.js";
export { FashionMNIST, type FashionMNISTOptions, type FashionMNISTSplit } from "./fashion_mnist.js";
export { readIdxGz, type IdxArray } from "./idx.js";
export { Rng, splitmix64 } from "./random.js";
