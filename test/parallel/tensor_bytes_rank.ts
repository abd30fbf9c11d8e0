/**
 * One rank of the tensor-parallel communication test: one forward and backward of a
 * TensorParallelGPT's loss over a CountingGroup, for 1 and 2 blocks, with and without sequence
 * parallelism; returns what the group counted.
 */
import { GPT } from "../../src/models/gpt.js";
import { TensorParallelGPT } from "../../src/models/tensor_parallel_gpt.js";
import { deferInit } from "../../src/nn/deferred.js";
import { type CollectiveCount, type CountedOp, CountingGroup } from "../../src/parallel/counting_group.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { fromTypedArray } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";

export const SHAPE = { batch: 2, time: 8, width: 16, vocab: 65 };

export type Counts = Record<CountedOp, CollectiveCount>;

export function run(group: ProcessGroup, { sequenceParallel }: { sequenceParallel: boolean }): Record<1 | 2, { forward: Counts; backward: Counts }> {
  const { batch, time, width, vocab } = SHAPE;
  const out = {} as Record<1 | 2, { forward: Counts; backward: Counts }>;
  for (const layers of [1, 2] as const) {
    manualSeed(1);
    const counting = new CountingGroup(group);
    const model = new TensorParallelGPT(
      deferInit(() => new GPT({ vocabSize: vocab, context: time, layers, heads: 4, width })),
      counting,
      { sequenceParallel },
    );
    const ids = fromTypedArray(
      new Int32Array(batch * time).map((_, i) => (7 * i) % vocab),
      [batch, time],
    );
    tidy(() => {
      const loss = model.loss(ids, ids);
      const forward = structuredClone(counting.counts);
      counting.reset();
      loss.backward();
      out[layers] = { forward, backward: structuredClone(counting.counts) };
    });
  }
  return out;
}
