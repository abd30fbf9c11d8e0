import type { Tensor } from "../tensor/tensor.js";
import { CollectiveError } from "./process_group.js";

/**
 * The split sizes of one side of an all-to-all: `splits` checked (one non-negative integer per
 * rank, summing to the tensor's size), or equal splits when it is omitted.
 * @example resolveSplits("allToAll", "inputSplits", input, 2, [3, 1]) // [3, 1]
 */
export function resolveSplits(op: string, what: string, tensor: Tensor, size: number, splits: readonly number[] | undefined): number[] {
  if (splits === undefined) {
    if (tensor.size % size !== 0) throw new RangeError(`${op}: ${tensor.size} elements do not split evenly over ${size} ranks; pass ${what}`);
    return new Array<number>(size).fill(tensor.size / size);
  }
  if (!Array.isArray(splits) || splits.length !== size || splits.some((s) => !Number.isSafeInteger(s) || s < 0)) {
    throw new RangeError(`${op}: ${what} must be ${size} non-negative integers (one per rank), got ${JSON.stringify(splits)}`);
  }
  const total = splits.reduce((a, b) => a + b, 0);
  if (total !== tensor.size) throw new RangeError(`${op}: ${what} ${JSON.stringify(splits)} sum to ${total}, but the tensor has ${tensor.size} elements`);
  return [...splits];
}

/**
 * Checks the split sizes every rank published before any data moves: what rank s sends to rank
 * d (`sent[s][d]`) must be what d expects from s (`expected[d][s]`). Every rank checks the same
 * matrices, so on a mismatch all of them throw the same error instead of one waiting on a
 * shape it does not know (DeepSpeed 6809's hang).
 * @example checkSplitMatrix("allToAll", 0, [[1, 2], [3, 4]], [[1, 3], [2, 4]]);
 */
export function checkSplitMatrix(op: string, rank: number, sent: readonly (readonly number[])[], expected: readonly (readonly number[])[]): void {
  for (let s = 0; s < sent.length; s++) {
    for (let d = 0; d < sent.length; d++) {
      const a = sent[s]![d]!,
        b = expected[d]![s]!;
      if (a !== b) {
        throw new CollectiveError(
          op,
          rank,
          rank === s ? d : s,
          `rank ${s} sends ${a} elements to rank ${d}, but rank ${d} expects ${b} from rank ${s} (outputSplits must mirror the peers' inputSplits)`,
        );
      }
    }
  }
}

/** Start offsets of consecutive segments of the given sizes. */
export function offsetsOf(splits: readonly number[]): number[] {
  const out: number[] = [];
  let at = 0;
  for (const s of splits) {
    out.push(at);
    at += s;
  }
  return out;
}
