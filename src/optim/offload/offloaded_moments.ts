import { adamStepInPlaceWith } from "../../ops/optimizer_kernels.js";
import { zeros } from "../../tensor/create.js";
import type { Tensor } from "../../tensor/tensor.js";
import { StateFile } from "./state_file.js";

/** One parameter's Adam update: its gradient, its bf16 copy (or null) and [lr, β1, β2, eps, wd, step, decoupled]. */
export interface MomentUpdate {
  p: Tensor;
  grad: Tensor;
  low: Tensor | null;
  hyper: Float64Array;
}

const BYTES_PER_ELEMENT = 8; // expAvg and expAvgSq, float32 each

/**
 * Adam's two moments of a list of parameters, kept in a file instead of memory (ZeRO-Infinity's
 * NVMe tier): resident are only two slots, each the size of the largest parameter's moments.
 * A step walks the parameters one by one: wait for the parameter's moments, ask for the next
 * one's (read by the file's own thread while this one computes), run the fused update, write
 * the moments back. A parameter is one read and one kernel call, whole: the kernel's split
 * over threads and vector lanes then matches the resident step's, so the result is bitwise
 * the same (a kernel call on part of a parameter rounds some elements differently). The file
 * starts as zeros, Adam's initial moments.
 *
 * @example
 * const moments = new OffloadedMoments("runs/gpt/version_0/offload/rank0.bin", model.parameters());
 * moments.step([{ p, grad: p.grad!, low: null, hyper }]);
 * moments.close();
 */
export class OffloadedMoments {
  private readonly file: StateFile;
  /** Each parameter's first element in the file's element order. */
  private readonly start = new Map<Tensor, number>();

  constructor(path: string, params: readonly Tensor[]) {
    let elements = 0,
      largest = 0;
    for (const p of params) {
      this.start.set(p, elements);
      elements += p.size;
      largest = Math.max(largest, p.size);
    }
    this.file = new StateFile(path, elements * BYTES_PER_ELEMENT, 2, largest * BYTES_PER_ELEMENT);
  }

  /** The file's path. */
  get path(): string {
    return this.file.path;
  }

  /** Bytes the moments take in the file (8 per parameter element). */
  get bytes(): number {
    return this.file.bytes;
  }

  /** One fused Adam update of each parameter, its moments read from and written back to the file. */
  step(updates: readonly MomentUpdate[]): void {
    if (updates.length === 0) return;
    const ask = (i: number): number => this.file.read(i % 2, this.offsetOf(updates[i]!.p), updates[i]!.p.size * BYTES_PER_ELEMENT);
    let nextRead = ask(0),
      lastWrite = 0;
    updates.forEach(({ p, grad, low, hyper }, i) => {
      this.file.wait(nextRead);
      // The next parameter's slot was last written from two parameters ago; the file's thread
      // keeps requests in order, so that write is done before this read overwrites the slot.
      if (i + 1 < updates.length) nextRead = ask(i + 1);
      const [expAvg, expAvgSq] = this.moments(i % 2, p.size);
      adamStepInPlaceWith(p, grad, low, expAvg, expAvgSq, hyper);
      lastWrite = this.file.write(i % 2, this.offsetOf(p), p.size * BYTES_PER_ELEMENT);
    });
    this.file.wait(lastWrite);
  }

  /**
   * p's moments read from the file into new tensors, for a checkpoint. Their category is
   * "other": a checkpoint's passing copy, which the tracker's optimizer category (the state
   * training holds) should not count.
   */
  read(p: Tensor): { expAvg: Tensor; expAvgSq: Tensor } {
    this.file.wait(this.file.read(0, this.offsetOf(p), p.size * BYTES_PER_ELEMENT));
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
    this.file.wait(this.file.write(0, this.offsetOf(p), p.size * BYTES_PER_ELEMENT));
  }

  /** Removes the file. */
  close(): void {
    this.file.close();
  }

  /** Where p's moments start in the file: expAvg, then expAvgSq, p.size elements each. */
  private offsetOf(p: Tensor): number {
    const first = this.start.get(p);
    if (first === undefined) throw new Error(`offload: a parameter of shape [${p.shape.join(", ")}] is not one of the offloaded optimizer's`);
    return first * BYTES_PER_ELEMENT;
  }

  /** Slot `slot` seen as the moments of n elements: expAvg, then expAvgSq. */
  private moments(slot: number, n: number): [Float32Array, Float32Array] {
    const bytes = this.file.slots[slot]!;
    return [new Float32Array(bytes.buffer, 0, n), new Float32Array(bytes.buffer, n * 4, n)];
  }
}
