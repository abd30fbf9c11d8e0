/**
 * The thread and memory controls of the kernel interface, for a backend that runs every kernel
 * on the calling JavaScript thread: one thread, no CPU placement, no alignment to gain.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";

/**
 * Accepts a thread count as native does (1..1024) and changes nothing: js kernels run on the
 * calling thread alone.
 *
 * @example
 * setNumThreads(4); getNumThreads(); // 1
 */
export const setNumThreads: Kernels["setNumThreads"] = (threads) => {
  const args = new Args("setNumThreads");
  const n = args.integer("threads", threads);
  args.require(n >= 1 && n <= 1024, () => `thread count must be in 1..1024, got ${n}`);
};

/** Always 1. @example getNumThreads(); // 1 */
export const getNumThreads: Kernels["getNumThreads"] = () => 1;

/** −1: JavaScript cannot tell which CPU it runs on. @example currentCpu(); // -1 */
export const currentCpu: Kernels["currentCpu"] = () => -1;

/** false, changing nothing: JavaScript cannot set a thread's affinity. @example keepOffCpu(0); // false */
export const keepOffCpu: Kernels["keepOffCpu"] = (cpu) => {
  new Args("keepOffCpu").integer("cpu", cpu);
  return false;
};

/**
 * 0: JavaScript sees no addresses, and scalar js loops gain nothing from cache-line alignment,
 * so a tensor may start at the buffer's first byte.
 *
 * @example
 * alignmentOffset(new ArrayBuffer(64)); // 0
 */
export const alignmentOffset: Kernels["alignmentOffset"] = (buffer) => {
  const args = new Args("alignmentOffset");
  args.require((buffer as unknown) instanceof ArrayBuffer, () => "argument must be an ArrayBuffer");
  return 0;
};
