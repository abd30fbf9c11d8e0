/**
 * A dataset for DataLoader tests that worker threads can rebuild: sample i is an image whose
 * value k is i + k/1000 (so a batch shows which samples it holds and how they were
 * transformed), and whose label is i % 10. Options plant faults at chosen indices.
 */
import { isMainThread } from "node:worker_threads";

import type { LabelledSample } from "../../src/data/collate.js";
import type { Dataset } from "../../src/data/dataset.js";
import type { WorkerSpec } from "../../src/data/worker_spec.js";

export interface NumberedImagesOptions {
  length: number;
  shape?: number[];
  /** get() throws here (an exception in the dataset's code). */
  throwAt?: number;
  /** get() returns a sample with a short image here (a corrupt record). */
  corruptAt?: number;
  /** In a worker thread, get() ends the thread here (a crash). */
  exitAt?: number;
  /** get() blocks this many milliseconds per sample (a slow or stuck source). */
  delayMs?: number;
}

function readRecord(index: number, options: NumberedImagesOptions): never {
  throw new Error(`bad record ${index} (planted by ${options.length}-sample test data)`);
}

export class NumberedImages implements Dataset<LabelledSample> {
  readonly length: number;
  readonly sampleShape: readonly number[];

  constructor(readonly options: NumberedImagesOptions) {
    this.length = options.length;
    this.sampleShape = options.shape ?? [1, 4, 5];
  }

  get(index: number): LabelledSample {
    const o = this.options;
    if (index === o.throwAt) readRecord(index, o);
    if (index === o.exitAt && !isMainThread) process.exit(3);
    if (o.delayMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, o.delayMs);
    const size = index === o.corruptAt ? 5 : this.sampleShape.reduce((a, b) => a * b, 1);
    return { image: Float32Array.from({ length: size }, (_, k) => index + k / 1000), label: index % 10 };
  }

  workerSpec(): WorkerSpec {
    return { module: import.meta.url, export: "numberedImages", args: this.options };
  }
}

/** The factory worker threads call (named in workerSpec). */
export const numberedImages = (options: NumberedImagesOptions): NumberedImages => new NumberedImages(options);
