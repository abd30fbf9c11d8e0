import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";

import { opObserver } from "../autograd/observer.js";
import { kernels } from "../backends/index.js";
import { Storage } from "../tensor/storage.js";
import { Tensor } from "../tensor/tensor.js";
import type { BatchJob } from "./batch_maker.js";
import { fieldArray, fieldSize, type BatchField, type BatchLayout } from "./layout.js";
import type { TransformSpec } from "./transforms/compose.js";
import type { WorkerSpec } from "./worker_spec.js";
import { DONE, SLOT_WORDS, STATUS, STATUS_ERROR, WANT } from "./slot_protocol.js";

/** How long the training thread blocks at a time before it checks the worker is still there. */
const SLICE_MS = 50;
/** A worker that has not reported its thread id by then never started. */
const STARTUP_MS = 60_000;
const WORKER_URL = new URL("./loader_worker.js", import.meta.url);

/** What a worker thread starts with (its workerData). */
export interface WorkerInit {
  worker: number;
  slots: number;
  spec: WorkerSpec;
  transform: TransformSpec | readonly TransformSpec[] | undefined;
  seed: number;
  layout: BatchLayout;
  control: Int32Array;
  /** Per slot, when the worker began and finished its last batch there (wall-clock ms), for the profiler. */
  times: Float64Array;
  /** Where the worker posts errors; the training thread reads them with receiveMessageOnPort. */
  port: MessagePort;
}

/** A batch to make in a slot's shared buffer. */
export interface JobMessage extends BatchJob {
  slot: number;
  seq: number;
  /** The CPU of the thread that asked (the training thread); the worker keeps off it. */
  requesterCpu: number;
  buffer: SharedArrayBuffer;
  yOffset: number;
}

/** What a worker reports on its error port. */
export interface WorkerErrorMessage {
  kind: "sample" | "fatal";
  seq: number;
  message: string;
  stack: string;
  index: number | null;
}

export interface WorkerPoolOptions {
  numWorkers: number;
  prefetchFactor: number;
  batchSize: number;
  spec: WorkerSpec;
  transform: TransformSpec | readonly TransformSpec[] | undefined;
  seed: number;
  layout: BatchLayout;
  /** Milliseconds a batch may take before the loader gives up (0: no limit). */
  timeout: number;
  /** How many times dead workers are replaced before the loader stops. */
  maxRestarts: number;
}

/**
 * An error raised in a worker thread, surfaced in the training thread: the message names the
 * worker, the dataset index and the batch; `stack` holds the worker's original stack.
 */
export class DataLoaderWorkerError extends Error {
  override name = "DataLoaderWorkerError";

  constructor(
    message: string,
    /** The dataset index of the failing sample (null for a worker that failed to start). */
    readonly index: number | null,
    readonly workerStack: string,
  ) {
    super(message);
    this.stack = `${this.name}: ${message}\n    --- in the worker thread ---\n${workerStack.split("\n").slice(1).join("\n")}\n    --- in the training thread ---\n${(this.stack ?? "").split("\n").slice(1).join("\n")}`;
  }
}

interface Slot {
  job: JobMessage | null;
  buffer: SharedArrayBuffer | null;
}

interface WorkerHandle {
  worker: Worker;
  port: MessagePort;
  spawnedAt: number;
}

const align = (bytes: number): number => Math.ceil(bytes / 64) * 64;

/**
 * The worker threads of a DataLoader and the shared memory they fill. Batch slots belong to
 * workers (slot s to worker s mod W); a worker fills a slot's SharedArrayBuffer and stores the
 * job's sequence number in the slot's done word, which the training thread waits on with
 * Atomics.wait. A worker keeps off the CPU the training thread asked from (Linux): on a machine
 * whose cores the step's OpenMP team fills, it then takes its time from a team thread that
 * spins between parallel regions instead of preempting the thread that drives the step (on 2
 * cores this took the cnn's data wait from 7.5% of a step to ~1%, see bench/README.md).
 * The training thread never needs its event loop: errors arrive on a
 * MessagePort read with receiveMessageOnPort, and a worker's death is seen by its thread
 * leaving /proc/self/task (checked every 50 ms of waiting), after which it is replaced and
 * its jobs are posted again, or the loader stops with an error once maxRestarts is spent.
 *
 * A batch handed out wraps its slot's buffer without copying; the slot takes a fresh buffer
 * and the old one returns to a free list when both x and y are disposed.
 */
export class WorkerPool {
  readonly slots: Slot[];
  private readonly control: Int32Array;
  private readonly times: Float64Array;
  private readonly workers: WorkerHandle[] = [];
  private readonly free: SharedArrayBuffer[] = [];
  private readonly errors = new Map<number, WorkerErrorMessage>();
  private readonly yOffset: number;
  private readonly bufferBytes: number;
  private seq = 0;
  private restarts = 0;
  private closed = false;

  constructor(readonly options: WorkerPoolOptions) {
    const count = options.numWorkers * options.prefetchFactor;
    this.slots = Array.from({ length: count }, () => ({ job: null, buffer: null }));
    this.control = new Int32Array(new SharedArrayBuffer(4 * (SLOT_WORDS * count + options.numWorkers)));
    this.times = new Float64Array(new SharedArrayBuffer(8 * 2 * count));
    this.yOffset = align(4 * options.batchSize * fieldSize(options.layout.x));
    this.bufferBytes = this.yOffset + align(4 * options.batchSize * fieldSize(options.layout.y));
    for (let w = 0; w < options.numWorkers; w++) this.workers.push(this.spawn(w));
  }

  /** Batch slots: numWorkers × prefetchFactor. */
  get size(): number {
    return this.slots.length;
  }

  /** Whether the pool was stopped (by close() or a fatal error). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Times a dead worker was replaced. */
  get restartCount(): number {
    return this.restarts;
  }

  /** Asks the slot's worker for a batch, unless the slot already works on that very batch. */
  request(slot: number, job: BatchJob): void {
    this.checkOpen();
    const s = this.slots[slot]!;
    if (s.job !== null && s.job.epoch === job.epoch && s.job.batch === job.batch && s.job.first === job.first) return;
    s.buffer ??= this.free.pop() ?? new SharedArrayBuffer(this.bufferBytes);
    s.job = { ...job, slot, seq: ++this.seq, requesterCpu: kernels.currentCpu(), buffer: s.buffer, yOffset: this.yOffset };
    // A newer wanted seq makes the worker skip whatever older job of this slot is still queued.
    Atomics.store(this.control, slot * SLOT_WORDS + WANT, s.job.seq);
    this.workers[slot % this.workers.length]!.worker.postMessage(s.job);
  }

  /** Waits for the slot's batch and hands it out as tensors over the slot's memory. */
  take(slot: number, job: BatchJob): { x: Tensor; y: Tensor } {
    this.checkOpen();
    const s = this.slots[slot]!;
    const pending = s.job;
    if (pending === null || pending.epoch !== job.epoch || pending.batch !== job.batch)
      throw new Error(`DataLoader: batch ${job.batch} of epoch ${job.epoch} was never requested`);
    this.wait(pending);
    s.job = null;
    opObserver()?.loaderBatch?.(slot % this.workers.length, this.times[2 * slot]!, this.times[2 * slot + 1]!);
    if (this.control[slot * SLOT_WORDS + STATUS] === STATUS_ERROR) {
      const error = this.errorOf(pending);
      throw new DataLoaderWorkerError(`${error.message} [worker ${slot % this.workers.length}]`, error.index, error.stack);
    }
    const buffer = pending.buffer;
    s.buffer = null;
    return this.wrap(buffer, job.indices.length);
  }

  /** Stops the workers; batches already handed out stay valid. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const { worker, port } of this.workers) {
      void worker.terminate();
      port.close();
    }
    this.free.length = 0;
  }

  /** The kernel thread id of worker w (0 until it has started, -1 where /proc is missing). */
  threadId(w: number): number {
    return Atomics.load(this.control, this.slots.length * SLOT_WORDS + w);
  }

  /**
   * Kills worker w as a crash would, once it has started (for tests of failure handling).
   * @example await loader.workers!.killWorker(0);
   */
  async killWorker(w: number): Promise<void> {
    while (this.threadId(w) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.workers[w]!.worker.terminate();
  }

  private checkOpen(): void {
    if (this.closed) throw new Error("DataLoader: the worker pool was stopped (by close() or a fatal worker error); start a new loop");
  }

  private spawn(w: number): WorkerHandle {
    const { port1, port2 } = new MessageChannel();
    Atomics.store(this.control, this.slots.length * SLOT_WORDS + w, 0);
    const init: WorkerInit = {
      worker: w,
      slots: this.slots.length,
      spec: this.options.spec,
      transform: this.options.transform,
      seed: this.options.seed,
      layout: this.options.layout,
      control: this.control,
      times: this.times,
      port: port2,
    };
    const worker = new Worker(WORKER_URL, { workerData: init, transferList: [port2] });
    worker.unref();
    // Errors are reported on the port; this keeps an escaped one from crashing the process.
    worker.on("error", () => {});
    return { worker, port: port1, spawnedAt: performance.now() };
  }

  private wait(job: JobMessage): void {
    const at = job.slot * SLOT_WORDS + DONE;
    const start = performance.now();
    for (;;) {
      const done = Atomics.load(this.control, at);
      if (done === job.seq) return;
      Atomics.wait(this.control, at, done, SLICE_MS);
      if (Atomics.load(this.control, at) === job.seq) return;
      this.checkWorker(job);
      const waited = performance.now() - start;
      if (this.options.timeout > 0 && waited > this.options.timeout) {
        throw new Error(
          `DataLoader: batch ${job.batch} of epoch ${job.epoch} took over ${this.options.timeout} ms in worker ${job.slot % this.workers.length} (timeout)`,
        );
      }
    }
  }

  /** Reads the worker's error port; replaces the worker when its thread is gone. */
  private checkWorker(job: JobMessage): void {
    const w = job.slot % this.workers.length;
    this.drain(w);
    const handle = this.workers[w]!;
    const tid = this.threadId(w);
    if (tid === 0) {
      if (performance.now() - handle.spawnedAt > STARTUP_MS) this.fail(`DataLoader: worker ${w} did not start within ${STARTUP_MS / 1000} s`);
      return;
    }
    if (tid < 0 || existsSync(`/proc/self/task/${tid}`)) return;
    this.drain(w);
    if (this.restarts >= this.options.maxRestarts) {
      this.fail(
        `DataLoader: worker ${w} (thread ${tid}) ended while making batch ${job.batch} of epoch ${job.epoch}; ` +
          `${this.restarts} of ${this.options.maxRestarts} allowed restarts (maxWorkerRestarts) were used, so the loader stops`,
      );
    }
    this.restarts++;
    handle.port.close();
    this.workers[w] = this.spawn(w);
    for (const s of this.slots) if (s.job !== null && s.job.slot % this.workers.length === w) this.workers[w]!.worker.postMessage(s.job);
  }

  private drain(w: number): void {
    for (let m = receiveMessageOnPort(this.workers[w]!.port); m !== undefined; m = receiveMessageOnPort(this.workers[w]!.port)) {
      const error = m.message as WorkerErrorMessage;
      if (error.kind === "fatal") {
        this.close();
        throw new DataLoaderWorkerError(`DataLoader: worker ${w} could not start: ${error.message}`, null, error.stack);
      }
      this.errors.set(error.seq, error);
    }
  }

  private errorOf(job: JobMessage): WorkerErrorMessage {
    this.drain(job.slot % this.workers.length);
    const error = this.errors.get(job.seq);
    this.errors.delete(job.seq);
    return (
      error ?? {
        kind: "sample",
        seq: job.seq,
        message: `DataLoader: batch ${job.batch} of epoch ${job.epoch} failed in a worker (no report arrived)`,
        stack: "",
        index: null,
      }
    );
  }

  private fail(message: string): never {
    this.close();
    throw new Error(message);
  }

  private wrap(buffer: SharedArrayBuffer, count: number): { x: Tensor; y: Tensor } {
    let holders = 2;
    const release = (): void => {
      // Keep as many spare buffers as there are slots; a consumer that held more lets the rest go.
      if (--holders === 0 && !this.closed && this.free.length < this.slots.length) this.free.push(buffer);
    };
    const tensor = (field: BatchField, offset: number): Tensor => {
      const view = fieldArray(field, buffer, offset, count);
      return new Tensor(Storage.wrap(buffer, offset, view.byteLength, "activation", release), view, [count, ...field.shape], field.dtype);
    };
    return { x: tensor(this.options.layout.x, 0), y: tensor(this.options.layout.y, this.yOffset) };
  }
}
