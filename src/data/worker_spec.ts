import type { Dataset } from "./dataset.js";

/**
 * How a worker thread rebuilds a dataset: the file URL of a module, the name of a function it
 * exports, and the arguments to call it with (anything structured clone can send; typed arrays
 * over a SharedArrayBuffer arrive shared, not copied). The function returns the dataset, or a
 * promise of it.
 *
 * @example
 * // in my_dataset.ts
 * export const makeMyDataset = (args: { n: number }) => new MyDataset(args.n);
 * class MyDataset implements Dataset<LabelledSample> {
 *   workerSpec(): WorkerSpec { return { module: import.meta.url, export: "makeMyDataset", args: { n: this.length } }; }
 *   ...
 * }
 */
export interface WorkerSpec {
  module: string;
  export: string;
  args: unknown;
}

/** A dataset that can describe itself to a worker thread. */
export interface WorkerDataset {
  workerSpec(): WorkerSpec;
}

/**
 * The worker spec of a dataset, or an error saying how to give it one.
 * @example const spec = workerSpecOf(FashionMNIST.load({ split: "train" }));
 */
export function workerSpecOf(dataset: unknown): WorkerSpec {
  const describe = (dataset as Partial<WorkerDataset> | null)?.workerSpec;
  if (typeof describe !== "function") {
    const name = (dataset as object | null)?.constructor?.name ?? typeof dataset;
    throw new TypeError(
      `DataLoader: numWorkers > 0 needs a dataset that worker threads can rebuild, but ${name} has no workerSpec() ` +
        "(return { module: import.meta.url, export: <factory name>, args } from one, or use numWorkers: 0)",
    );
  }
  return describe.call(dataset);
}

/**
 * Rebuilds a dataset from its spec, in any thread.
 * @example const dataset = await loadDataset(spec);
 */
export async function loadDataset(spec: WorkerSpec): Promise<Dataset<unknown>> {
  const module = (await import(spec.module)) as Record<string, unknown>;
  const factory = module[spec.export];
  if (typeof factory !== "function") throw new TypeError(`DataLoader worker: ${spec.module} exports no function ${JSON.stringify(spec.export)}`);
  const dataset = (await (factory as (args: unknown) => unknown)(spec.args)) as Partial<Dataset<unknown>> | null;
  if (typeof dataset?.get !== "function" || typeof dataset.length !== "number") {
    throw new TypeError(`DataLoader worker: ${spec.export}() of ${spec.module} did not return a dataset (an object with length and get)`);
  }
  return dataset as Dataset<unknown>;
}
