import type { ProcessGroup } from "../parallel/process_group.js";
import { fromTypedArray, zeros } from "../tensor/create.js";

/**
 * Every rank's text on every rank, in rank order (each rank calls it): the lengths are
 * all-gathered first, then the UTF-8 bytes packed four to an int32 and padded to the longest.
 * The profiler merges its ranks' profiles and traces this way, through the job's own group.
 * @example const all = gatherText(group, JSON.stringify(profile)); // [rank 0's, rank 1's, ...]
 */
export function gatherText(group: ProcessGroup, text: string): string[] {
  const bytes = new TextEncoder().encode(text);
  const lengths = zeros([group.size], { dtype: "int32" });
  const mine = fromTypedArray(new Int32Array([bytes.length]), [1]);
  try {
    group.allGather(lengths, mine).wait();
    const sizes = [...(lengths.toHost() as Int32Array)];
    const words = Math.max(1, Math.ceil(Math.max(...sizes) / 4));
    const packed = new Uint8Array(words * 4);
    packed.set(bytes);
    const input = fromTypedArray(new Int32Array(packed.buffer), [words]);
    const output = zeros([words * group.size], { dtype: "int32" });
    try {
      group.allGather(output, input).wait();
      const all = new Uint8Array((output.toHost() as Int32Array).slice().buffer);
      const decoder = new TextDecoder();
      return sizes.map((n, r) => decoder.decode(all.subarray(r * words * 4, r * words * 4 + n)));
    } finally {
      input.dispose();
      output.dispose();
    }
  } finally {
    lengths.dispose();
    mine.dispose();
  }
}
