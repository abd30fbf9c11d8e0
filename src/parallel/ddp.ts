import { currentBackward, registerPostAccumulateGradHook } from "../autograd/hooks.js";
import type { Module } from "../nn/module.js";
import type { GradScaler } from "../optim/grad_scaler.js";
import type { Optimizer } from "../optim/optimizer.js";
import { copyInto } from "../ops/inplace.js";
import { fillWith } from "../tensor/create.js";
import { DTYPES } from "../tensor/dtype.js";
import { Tensor } from "../tensor/tensor.js";
import type { CommunicationHook } from "./compression/hook.js";
import type { ProcessGroup, Work } from "./process_group.js";
import type { StateReader } from "./state.js";
import { ReplicatedStrategy } from "./strategy.js";

export interface DDPOptions {
  /** Bucket size in MiB (default 25, PyTorch's). */
  bucketCapMB?: number;
  /** Size of the first bucket in MiB (default 1, PyTorch's), so communication starts early in backward. */
  firstBucketCapMB?: number;
  /** Copy rank 0's parameters and buffers to every rank now (default true). */
  broadcastParameters?: boolean;
  /**
   * Start each bucket's all-reduce as soon as it fills, during backward (default true); false
   * starts them all when backward ends, to measure how much communication the overlap hides.
   */
  overlap?: boolean;
  /**
   * A communication hook that averages each bucket instead of the plain all-reduce (gradient
   * compression, see `parallel.compression`); it runs when the bucket is complete and blocks.
   */
  hook?: CommunicationHook | null;
  /**
   * Optimizer steps averaged by the plain all-reduce before the hook takes over (default 0):
   * PyTorch's `start_powerSGD_iter`, deep gradient compression's warm-up, for runs whose
   * early, fast-changing gradients compress badly (on the 2-epoch mlp it did not close the
   * compressors' accuracy gap: bench/README.md). Counted from the optimizer's state, so a
   * resumed run goes on where it stopped.
   */
  hookWarmupSteps?: number;
}

/** A Work already complete: a hook's bucket is averaged when the hook returns. */
const DONE: Work = { wait: () => {}, isCompleted: () => true };

interface Bucket {
  params: Tensor[];
  /** Element offset of each parameter's gradient in the flat buffer. */
  offsets: number[];
  /** The view of its range that each parameter's `.grad` is, once made (zeroGrad disposes it). */
  views: (Tensor | null)[];
  buffer: Tensor;
  /** Gradients not yet final in the buffer during this backward. */
  pending: number;
  work: Work | null;
}

/**
 * Data-parallel training as PyTorch's DistributedDataParallel: every rank holds a replica,
 * rank 0's parameters are broadcast at the start, and each backward averages the gradients
 * over the ranks, so every replica takes the same optimizer step (the result equals one worker
 * on the global batch: the per-rank batch × ranks, the per-rank batch being the config's).
 *
 * Gradients are grouped into buckets of about `bucketCapMB` in reverse registration order (the
 * order backward produces them), the first one small. Each parameter's `.grad` is a view of its
 * range of its bucket (PyTorch's gradient_as_bucket_view): a gradient kept from the last step
 * accumulates in the bucket directly, a new one is moved into it once, and the averaged result
 * is read where it lands, never copied back. A bucket's all-reduce is issued asynchronously from
 * the parameters' post-accumulate-grad hooks as soon as its last gradient is final, and backward
 * returns once every bucket is averaged. Parameters that got no gradient on this rank count as
 * zeros. After backward the gradients are identical on all ranks, so the local norm is the
 * global one; with autocast the parameters and gradients are the f32 master copies.
 *
 * It is the data-parallel Strategy: `backward(loss, { sync })`, `clipGradNorm`, `step` and the
 * checkpoint (written by rank 0) come from it.
 *
 * @example
 * const ddp = new DistributedDataParallel(model, group);
 * loss.backward();                       // gradients averaged across ranks when it returns
 * optimizer.step();
 * ddp.noSync(() => loss2.backward());    // accumulate locally, sync on the next backward
 */
export class DistributedDataParallel extends ReplicatedStrategy {
  readonly buckets: Bucket[] = [];
  private readonly where = new Map<Tensor, { bucket: Bucket; index: number }>();
  private readonly ready = new Set<Tensor>();
  private nextLaunch = 0;
  private nextToFinish = 0;
  private syncing = true;
  private readonly overlap: boolean;
  private readonly hook: CommunicationHook | null;
  private readonly hookWarmupSteps: number;
  /** Optimizer steps taken so far, as the optimizer's state counts them (a resumed run's included). */
  private stepsTaken = 0;
  private sentBytes = 0;
  private readonly removeHooks: (() => void)[];

  constructor(
    module: Module,
    readonly group: ProcessGroup,
    options: DDPOptions = {},
  ) {
    super(module);
    const cap = (options.bucketCapMB ?? 25) * 2 ** 20,
      firstCap = (options.firstBucketCapMB ?? 1) * 2 ** 20;
    if (!(cap > 0) || !(firstCap > 0))
      throw new RangeError(`DistributedDataParallel: bucket sizes must be positive, got ${options.bucketCapMB} and ${options.firstBucketCapMB} MiB`);
    this.overlap = options.overlap ?? true;
    this.hook = options.hook ?? null;
    this.hookWarmupSteps = options.hookWarmupSteps ?? 0;
    if (!Number.isInteger(this.hookWarmupSteps) || this.hookWarmupSteps < 0)
      throw new RangeError(`DistributedDataParallel: hookWarmupSteps must be a non-negative integer, got ${options.hookWarmupSteps}`);
    if (options.broadcastParameters ?? true) {
      for (const t of module.parameters()) group.broadcast(t, 0);
      for (const [, t] of module.namedBuffers()) group.broadcast(t, 0);
    }
    this.assignBuckets(
      module
        .parameters()
        .filter((p) => p.requiresGrad)
        .reverse(),
      cap,
      firstCap,
    );
    this.removeHooks = [...this.where.keys()].map((p) => registerPostAccumulateGradHook(p, (leaf) => this.gradReady(leaf)));
  }

  /**
   * Backward from `loss`; with `sync: false` inside noSync (gradients accumulate on this rank).
   * @example ddp.backward(loss, { sync: microBatch === last });
   */
  backward(loss: Tensor, options: { sync?: boolean } = {}): void {
    if (options.sync ?? true) loss.backward();
    else this.noSync(() => loss.backward());
  }

  /**
   * Bytes this rank has put into gradient averaging so far (all-reduce inputs, or what the
   * compression hook sent): divided by the steps, the run's `comm_bytes`.
   * @example const perStep = ddp.commBytes / steps;
   */
  get commBytes(): number {
    return this.sentBytes;
  }

  override step(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void {
    super.step(optimizer, gradScaler);
    this.countSteps(optimizer);
  }

  override loadStateDict(reader: StateReader, optimizer: Optimizer<any>): void {
    super.loadStateDict(reader, optimizer);
    this.countSteps(optimizer);
  }

  /** Reads the most steps the optimizer has taken on any of this model's parameters (a step the scaler skipped does not count), while the hook warms up. */
  private countSteps(optimizer: Optimizer<any>): void {
    if (!this.hook || this.stepsTaken >= this.hookWarmupSteps) return;
    let steps = 0;
    for (const p of this.where.keys()) steps = Math.max(steps, optimizer.paramState(p)?.step ?? 0);
    this.stepsTaken = steps;
  }

  protected get writes(): boolean {
    return this.group.rank === 0;
  }

  protected get layout(): string {
    return "ddp";
  }

  /**
   * Runs fn (forward and backward) without averaging: gradients accumulate locally and the
   * next backward outside noSync averages the accumulated sum, as PyTorch's no_sync().
   * @example for (const micro of micros.slice(0, -1)) ddp.noSync(() => lossOf(micro).backward());
   */
  noSync<T>(fn: () => T): T {
    const before = this.syncing;
    this.syncing = false;
    try {
      return fn();
    } finally {
      this.syncing = before;
    }
  }

  /** Stops syncing gradients (removes the autograd hooks). */
  override dispose(): void {
    for (const remove of this.removeHooks) remove();
  }

  private assignBuckets(params: Tensor[], cap: number, firstCap: number): void {
    let current: Tensor[] = [],
      bytes = 0;
    const close = (): void => {
      if (current.length === 0) return;
      const size = current.reduce((n, p) => n + p.size, 0);
      const buffer = this.group.communicationBuffer?.([size], current[0]!.dtype) ?? Tensor.empty([size], current[0]!.dtype, "gradient");
      buffer.kept = true;
      buffer.category = "gradient";
      const offsets: number[] = [];
      let offset = 0;
      for (const p of current) {
        offsets.push(offset);
        offset += p.size;
      }
      const bucket: Bucket = { params: current, offsets, views: current.map(() => null), buffer, pending: current.length, work: null };
      current.forEach((p, index) => {
        this.where.set(p, { bucket, index });
      });
      this.buckets.push(bucket);
      current = [];
      bytes = 0;
    };
    for (const p of params) {
      if (current.length > 0 && current[0]!.dtype !== p.dtype) close();
      current.push(p);
      bytes += p.storage.byteLength;
      if (bytes >= (this.buckets.length === 0 ? firstCap : cap)) close();
    }
    close();
  }

  /**
   * Makes the parameter's `.grad` its bucket view: a gradient held elsewhere (new this
   * backward, or accumulated under noSync) moves in, a missing one is zeros.
   */
  private gradIntoBucket(param: Tensor, bucket: Bucket, index: number): void {
    const held = param.grad && !param.grad.disposed ? param.grad : null;
    if (held !== null && held === bucket.views[index]) return;
    const view = bucket.buffer.viewRange(bucket.offsets[index]!, param.shape);
    view.kept = true;
    if (held) {
      copyInto(view, held);
      held.dispose();
    } else fillWith(view, 0);
    bucket.views[index] = param.grad = view;
  }

  private gradReady(leaf: Tensor): void {
    const at = this.syncing ? this.where.get(leaf) : undefined;
    if (!at) return;
    if (this.ready.has(leaf)) {
      throw new Error(
        `DistributedDataParallel: a parameter of shape [${leaf.shape.join(", ")}] got more gradient after its bucket was ` +
          "synced: it is used both inside and outside an activation checkpoint (or in two); use it on one side only",
      );
    }
    if (this.ready.size === 0) {
      const pass = currentBackward();
      if (!pass) throw new Error("DistributedDataParallel: a gradient became ready outside backward");
      pass.onNodeDone(() => this.progress());
      pass.onEnd(() => this.backwardEnd());
    }
    this.ready.add(leaf);
    this.gradIntoBucket(leaf, at.bucket, at.index);
    at.bucket.pending--;
    if (this.overlap) this.launchReady();
  }

  /** Issues the all-reduce of every complete bucket, in bucket order (the same on every rank). */
  private launchReady(): void {
    while (this.nextLaunch < this.buckets.length && this.buckets[this.nextLaunch]!.pending === 0) {
      const index = this.nextLaunch++,
        bucket = this.buckets[index]!;
      if (this.hook && this.stepsTaken >= this.hookWarmupSteps) {
        const shapes = bucket.params.map((p) => p.shape);
        this.sentBytes += this.hook.reduce({ index, flat: bucket.buffer, shapes, offsets: bucket.offsets }, this.group);
        bucket.work = DONE;
      } else {
        this.sentBytes += bucket.buffer.size * DTYPES[bucket.buffer.dtype].bytes;
        bucket.work = this.group.allReduce(bucket.buffer, "mean", { async: true });
      }
    }
  }

  /**
   * Tests the all-reduces in flight, between the nodes of backward: the test moves the
   * communication on (the mpi backend reads and writes its sockets there) on the thread that
   * is running anyway, instead of waking the backend's progress thread to preempt backward.
   */
  private progress(): void {
    while (this.nextToFinish < this.nextLaunch && this.buckets[this.nextToFinish]!.work!.isCompleted()) this.nextToFinish++;
  }

  private backwardEnd(): void {
    try {
      for (const p of this.where.keys()) if (!this.ready.has(p)) this.gradReady(p);
      this.launchReady();
      for (const bucket of this.buckets) bucket.work!.wait();
    } finally {
      this.ready.clear();
      this.nextLaunch = 0;
      this.nextToFinish = 0;
      for (const bucket of this.buckets) {
        bucket.pending = bucket.params.length;
        bucket.work = null;
      }
    }
  }
}
