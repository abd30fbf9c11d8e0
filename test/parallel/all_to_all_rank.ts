/**
 * One rank of the allToAll tests: rank s sends (s + 2d) mod 3 · `scale` elements to rank d (some
 * segments empty), each element naming its source, destination and index, so a misplaced,
 * missing or repeated element shows. The "mismatch" scenario has the last rank expect one
 * element too many from rank 0: every rank must fail with the same error, none may hang.
 */
import { fromTypedArray, zeros } from "../../src/tensor/create.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";

export type Scenario = "uneven" | "mismatch";
export interface Result {
  received: number[];
  expected: number[];
  error: string | null;
}

const count = (s: number, d: number, scale: number): number => ((s + 2 * d) % 3) * scale;
const value = (s: number, d: number, i: number): number => s * 1e6 + d * 1e4 + i;

export function run(group: ProcessGroup, { scenario, scale }: { scenario: Scenario; scale: number }): Result {
  const n = group.size,
    r = group.rank;
  const inputSplits = Array.from({ length: n }, (_, d) => count(r, d, scale));
  const outputSplits = Array.from({ length: n }, (_, s) => count(s, r, scale));
  const input = fromTypedArray(Float32Array.from(inputSplits.flatMap((c, d) => Array.from({ length: c }, (_, i) => value(r, d, i)))), [
    inputSplits.reduce((a, b) => a + b, 0),
  ]);
  const expected = outputSplits.flatMap((c, s) => Array.from({ length: c }, (_, i) => value(s, r, i)));
  if (scenario === "mismatch" && r === n - 1) outputSplits[0]! += 1;
  const output = zeros([outputSplits.reduce((a, b) => a + b, 0)]);
  try {
    group.allToAll(output, input, outputSplits, inputSplits);
  } catch (error) {
    return { received: [], expected, error: (error as Error).message };
  }
  return { received: Array.from(output.toHost()), expected, error: null };
}
