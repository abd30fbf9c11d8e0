import { adamStepInPlaceWith } from "../../ops/optimizer_kernels.js";
import { zeros } from "../../tensor/create.js";
import type { MemoryCategory } from "../../tensor/memory.js";
import type { Tensor } from "../../tensor/tensor.js";
import { StateFile } from "./state_file.js";

/** One parameter's Adam update: its gradient, its bf16 copy (or null) and [lr, β1, β2, eps, wd, step, decoupled]. */
export interface MomentUpdate {
  p: Tensor;
  grad: Tensor;
  low: Tensor | null;
  hyper: Float64Array;
}

const MOMENT_BYTES = 8; // expAvg and expAvgSq, float32 each
const MASTER_BYTES = 4;

/** Where a parameter's state lies in the file: its first byte, and whether its f32 master follows the moments. */
interface StateRecord {
  offset: number;
  master: boolean;
}

/**
 * Adam's two moments of a list of parameters, and the f32 master weights of some of them, kept
 * in a file instead of memory (ZeRO-Infinity's NVMe tier): resident are only two slots, each the
 * size of the largest parameter's record (its moments, then its master if offloaded). A step
 * walks the parameters one by one: wait for the parameter's record, ask for the next one's (read
 * by the file's own thread while this one computes), run the fused update, write the record
 * back. A parameter is one read and one kernel call, whole: the kernel's split over threads and
 * vector lanes then matches the resident step's, so the result is bitwise the same (a kernel
 * call on part of a parameter rounds some elements differently). The file starts as zeros,
 * Adam's initial moments; storeMaster puts a master in.
 *
 * @example
 * const moments = new OffloadedMoments("runs/gpt/version_0/offload/rank0.bin", model.parameters());
 * moments.step([{ p, grad: p.grad!, low: null, hyper }]);
 * moments.close();
 */
export class OffloadedMoments {
  private readonly file: StateFile;
  private readonly records = new Map<Tensor, StateRecord>();

  /** `masters`: the parameters whose master weights the file holds too (storeMaster writes them). */
  constructor(path: string, params: readonly Tensor[], masters: ReadonlySet<Tensor> = new Set()) {
    let bytes = 0,
      largest = 0;
    for (const p of params) {
      const master = masters.has(p);
      const size = p.size * (MOMENT_BYTES + (master ? MASTER_BYTES : 0));
      this.records.set(p, { offset: bytes, master });
      bytes += size;
      largest = Math.max(largest, size);
    }
    this.file = new StateFile(path, bytes, 2, largest);
  }

  /** The file's path. */
  get path(): string {
    return this.file.path;
  }

  /** Bytes the file holds: 8 per parameter element, 4 more per offloaded master's. */
  get bytes(): number {
    return this.file.bytes;
  }

  /** Whether the file holds p's master weights. */
  holdsMaster(p: Tensor): boolean {
    return this.records.get(p)?.master ?? false;
  }

  /**
   * One fused Adam update of each parameter, its moments (and offloaded master) read from and
   * written back to the file; a resident parameter is updated in place.
   */
  step(updates: readonly MomentUpdate[]): void {
    if (updates.length === 0) return;
    const ask = (i: number): number => {
      const { p } = updates[i]!;
      return this.file.read(i % 2, this.recordOf(p).offset, this.recordBytes(p));
    };
    let nextRead = ask(0),
      lastWrite = 0;
    updates.forEach(({ p, grad, low, hyper }, i) => {
      this.file.wait(nextRead);
      // The next parameter's slot was last written from two parameters ago; the file's thread
      // keeps requests in order, so that write is done before this read overwrites the slot.
      if (i + 1 < updates.length) nextRead = ask(i + 1);
      const [expAvg, expAvgSq] = this.moments(i % 2, p.size);
      adamStepInPlaceWith(this.recordOf(p).master ? this.master(i % 2, p.size) : p, grad, low, expAvg, expAvgSq, hyper);
      lastWrite = this.file.write(i % 2, this.recordOf(p).offset, this.recordBytes(p));
    });
    this.file.wait(lastWrite);
  }

  /**
   * p's moments read from the file into new tensors, for a checkpoint. Their category is
   * "other": a checkpoint's passing copy, which the tracker's optimizer category (the state
   * training holds) should not count.
   */
  read(p: Tensor): { expAvg: Tensor; expAvgSq: Tensor } {
    this.file.wait(this.file.read(0, this.recordOf(p).offset, p.size * MOMENT_BYTES));
    const expAvg = zeros(p.shape, { category: "other" }),
      expAvgSq = zeros(p.shape, { category: "other" });
    const [m, v] = this.moments(0, p.size);
    expAvg.toHost().set(m);
    expAvgSq.toHost().set(v);
    return { expAvg, expAvgSq };
  }

  /** Writes p's moments (from a checkpoint) to the file. */
  write(p: Tensor, expAvg: Tensor, expAvgSq: Tensor): void {
    const [m, v] = this.moments(0, p.size);
    m.set(expAvg.toHost());
    v.set(expAvgSq.toHost());
    this.file.wait(this.file.write(0, this.recordOf(p).offset, p.size * MOMENT_BYTES));
  }

  /** Writes p's current values to the file as its master weights (p must be one of the file's masters). */
  storeMaster(p: Tensor): void {
    const { offset } = this.masterRecord(p);
    new Float32Array(this.file.slots[0]!.buffer, 0, p.size).set(p.toHost() as Float32Array);
    this.file.wait(this.file.write(0, offset + p.size * MOMENT_BYTES, p.size * MASTER_BYTES));
  }

  /** p's master weights read from the file into a new tensor of p's shape. */
  readMaster(p: Tensor, category: MemoryCategory): Tensor {
    const { offset } = this.masterRecord(p);
    this.file.wait(this.file.read(0, offset + p.size * MOMENT_BYTES, p.size * MASTER_BYTES));
    const out = zeros(p.shape, { category });
    out.toHost().set(new Float32Array(this.file.slots[0]!.buffer, 0, p.size));
    return out;
  }

  /** Removes the file. */
  close(): void {
    this.file.close();
  }

  private recordOf(p: Tensor): StateRecord {
    const record = this.records.get(p);
    if (!record) throw new Error(`offload: a parameter of shape [${p.shape.join(", ")}] is not one of the offloaded optimizer's`);
    return record;
  }

  private masterRecord(p: Tensor): StateRecord {
    const record = this.recordOf(p);
    if (!record.master) throw new Error(`offload: the master weights of a parameter of shape [${p.shape.join(", ")}] are not offloaded`);
    return record;
  }

  private recordBytes(p: Tensor): number {
    return p.size * (MOMENT_BYTES + (this.recordOf(p).master ? MASTER_BYTES : 0));
  }

  /** Slot `slot` seen as the moments of n elements: expAvg, then expAvgSq. */
  private moments(slot: number, n: number): [Float32Array, Float32Array] {
    const bytes = this.file.slots[slot]!;
    return [new Float32Array(bytes.buffer, 0, n), new Float32Array(bytes.buffer, n * 4, n)];
  }

  /** Slot `slot`'s master weights of n elements, after the moments. */
  private master(slot: number, n: number): Float32Array {
    return new Float32Array(this.file.slots[slot]!.buffer, n * MOMENT_BYTES, n);
  }
}
