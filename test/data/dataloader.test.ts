import assert from "node:assert/strict";
import { test } from "node:test";

import { collateLabelled, type LabelledBatch, type LabelledSample } from "../../src/data/collate.js";
import { DataLoader, type LoaderState } from "../../src/data/dataloader.js";
import { ArrayDataset } from "../../src/data/dataset.js";
import type { Sampler } from "../../src/data/sampler.js";

/** n samples of shape [2, 3] whose values encode their index, so a batch shows which it holds. */
function numbered(n: number): ArrayDataset<LabelledSample> {
  const samples = Array.from({ length: n }, (_, i) => ({
    image: Float32Array.from({ length: 6 }, (_, k) => i + k / 10),
    label: i % 7,
  }));
  return new ArrayDataset(samples, [2, 3]);
}

/** The dataset indices in a batch (read back from the first value of each sample), disposing it. */
function indicesOf(batch: LabelledBatch): number[] {
  const x = batch.x.data as Float32Array;
  const per = batch.x.size / batch.x.shape[0]!;
  const out = Array.from({ length: batch.x.shape[0]! }, (_, b) => x[b * per]!);
  batch.x.dispose();
  batch.y.dispose();
  return out;
}

/** One pass of the loader: the indices of each batch. */
const epochOf = (loader: DataLoader): number[][] => Array.from(loader, indicesOf);

test("batches have shape [B, ...sampleShape] float32 and labels [B] int32, last one partial", () => {
  const loader = new DataLoader(numbered(10), { batchSize: 4 });
  assert.equal(loader.length, 3);
  const batches = [...loader];
  assert.deepEqual(
    batches.map((b) => [...b.x.shape]),
    [
      [4, 2, 3],
      [4, 2, 3],
      [2, 2, 3],
    ],
  );
  assert.deepEqual(
    batches.map((b) => [...b.y.shape]),
    [[4], [4], [2]],
  );
  const [first, , last] = batches as [LabelledBatch, LabelledBatch, LabelledBatch];
  assert.equal(first.x.dtype, "float32");
  assert.equal(first.y.dtype, "int32");
  assert.equal(first.x.category, "activation");
  assert.deepEqual(
    Array.from(first.x.data)
      .slice(0, 7)
      .map((v) => +v.toFixed(4)),
    [0, 0.1, 0.2, 0.3, 0.4, 0.5, 1],
  );
  assert.deepEqual(first.y.toArray(), [0, 1, 2, 3]);
  assert.deepEqual(last.y.toArray(), [1, 2]);
  assert.deepEqual(batches.map(indicesOf), [
    [0, 1, 2, 3],
    [4, 5, 6, 7],
    [8, 9],
  ]);
});

test("dropLast skips the partial batch", () => {
  const loader = new DataLoader(numbered(10), { batchSize: 4, dropLast: true });
  assert.equal(loader.length, 2);
  assert.deepEqual(epochOf(loader), [
    [0, 1, 2, 3],
    [4, 5, 6, 7],
  ]);
  assert.equal(new DataLoader(numbered(8), { batchSize: 4, dropLast: true }).length, 2);
  assert.equal(new DataLoader(numbered(3), { batchSize: 4, dropLast: true }).length, 0);
});

test("shuffling visits every index once per epoch, the same way for the same seed", () => {
  const make = (seed: number) => new DataLoader(numbered(50), { batchSize: 8, shuffle: true, seed });
  const loader = make(1);
  const epoch0 = epochOf(loader);
  assert.deepEqual(loader.state(), { epoch: 1, batchIndex: 0 }, "a finished epoch moves to the next");
  const epoch1 = epochOf(loader);
  for (const epoch of [epoch0, epoch1]) {
    assert.deepEqual(
      epoch.map((b) => b.length),
      [8, 8, 8, 8, 8, 8, 2],
    );
    assert.deepEqual(
      epoch.flat().sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
  }
  assert.notDeepEqual(
    epoch0.flat(),
    Array.from({ length: 50 }, (_, i) => i),
    "shuffled",
  );
  assert.notDeepEqual(epoch1, epoch0, "epochs differ");
  assert.deepEqual(epochOf(make(1)), epoch0, "same seed, same order");
  assert.notDeepEqual(epochOf(make(2)), epoch0, "another seed, another order");
  loader.setEpoch(0);
  assert.deepEqual(epochOf(loader), epoch0, "setEpoch replays an epoch");
});

test("resuming from a saved state yields exactly the batches an uninterrupted run would", () => {
  const options = { batchSize: 6, shuffle: true, seed: 9 };
  const reference = new DataLoader(numbered(40), options);
  const uninterrupted = [epochOf(reference), epochOf(reference), epochOf(reference)].flat();

  const first = new DataLoader(numbered(40), options);
  const seen: number[][] = epochOf(first);
  for (const batch of first) {
    seen.push(indicesOf(batch));
    if (seen.length === 10) break; // 7 batches per epoch: stop 3 batches into epoch 1
  }
  const saved = JSON.parse(JSON.stringify(first.state())) as LoaderState;
  assert.deepEqual(saved, { epoch: 1, batchIndex: 3 });

  const resumed = new DataLoader(numbered(40), options);
  resumed.loadState(saved);
  seen.push(...epochOf(resumed), ...epochOf(resumed));
  assert.deepEqual(seen, uninterrupted);
  assert.deepEqual(resumed.state(), { epoch: 3, batchIndex: 0 });
});

test("a loop left early continues where it stopped", () => {
  const loader = new DataLoader(numbered(10), { batchSize: 3 });
  for (const batch of loader) {
    indicesOf(batch);
    break;
  }
  assert.deepEqual(loader.state(), { epoch: 0, batchIndex: 1 });
  assert.deepEqual(epochOf(loader), [[3, 4, 5], [6, 7, 8], [9]]);
});

test("an iteration superseded by a newer one or by loadState fails instead of interleaving", () => {
  const loader = new DataLoader(numbered(10), { batchSize: 2 });
  const old = loader[Symbol.iterator]();
  indicesOf(old.next().value as LabelledBatch);
  loader.setEpoch(0);
  assert.throws(() => old.next(), /DataLoader: this iteration was superseded/);
});

test("loadState and options are validated", () => {
  const loader = new DataLoader(numbered(10), { batchSize: 4 });
  assert.throws(() => loader.loadState({ epoch: 0, batchIndex: 4 }), /state.batchIndex must be an integer in \[0, 3\], got 4/);
  assert.throws(() => loader.loadState({ epoch: -1, batchIndex: 0 }), /state.epoch must be an integer in \[0, .*\], got -1/);
  assert.throws(() => loader.loadState({ epoch: "1" } as never), /state.epoch must be an integer .* got "1"/);
  loader.loadState({ epoch: 2, batchIndex: 3 });
  assert.deepEqual(epochOf(loader), [], "an epoch already fully handed out yields nothing");
  assert.deepEqual(loader.state(), { epoch: 3, batchIndex: 0 });
  assert.throws(() => new DataLoader(numbered(4), { batchSize: 0 }), /DataLoader: batchSize must be an integer in \[1, .*\], got 0/);
  const sampler: Sampler = { length: 3, epochIndices: () => Int32Array.of(0, 1) };
  assert.throws(() => new DataLoader(numbered(4), { batchSize: 2, sampler, shuffle: true }), /either a sampler or shuffle, not both/);
  assert.throws(() => [...new DataLoader(numbered(4), { batchSize: 2, sampler })], /sampler gave 2 indices for epoch 0, but its length is 3/);
});

test("a custom sampler and collate replace the defaults", () => {
  const evens: Sampler = { length: 3, epochIndices: () => Int32Array.of(0, 2, 4) };
  const words = new ArrayDataset(["a", "b", "c", "d", "e"]);
  const loader = new DataLoader(words, { batchSize: 2, sampler: evens, collate: (s: string[]) => s.join("") });
  assert.deepEqual([...loader], ["ac", "e"]);
  const numbers = new ArrayDataset([1, 2, 3]);
  assert.throws(() => [...new DataLoader(numbers, { batchSize: 2 })], /sample 0 is 1, expected \{ image: Float32Array.*pass a collate function/);
});

test("collateLabelled checks sizes and labels", () => {
  const image = new Float32Array(6);
  assert.throws(
    () =>
      collateLabelled(
        [
          { image, label: 0 },
          { image: new Float32Array(5), label: 1 },
        ],
        [2, 3],
      ),
    /sample 1 has image Float32Array\(5\), expected \{ image: Float32Array\(6\) for shape \[2, 3\]/,
  );
  assert.throws(() => collateLabelled([{ image, label: 0.5 }]), /sample 0 has label 0.5, expected \{ image: Float32Array\(6\), label: int32 number \}/);
  assert.throws(() => collateLabelled([]), /cannot make a batch of 0 samples/);
  const { x, y } = collateLabelled([{ image, label: 4 }]);
  assert.deepEqual([...x.shape], [1, 6], "no sampleShape: flat samples");
  assert.deepEqual(y.toArray(), [4]);
  x.dispose();
  y.dispose();
});
