import assert from "node:assert/strict";
import { test } from "node:test";

import { Rng } from "../../src/data/random.js";
import { UniformSampler } from "../../src/data/uniform_sampler.js";

test("uniform sampling draws with replacement from the seeded stream of each epoch", () => {
  const sampler = new UniformSampler(10, { samples: 2000, seed: 5 });
  const e0 = sampler.epochIndices(0);
  assert.equal(e0.length, 2000);
  assert.equal(sampler.length, 2000);
  const counts = new Array<number>(10).fill(0);
  for (const i of e0) counts[i]!++;
  assert.ok(
    counts.every((c) => c > 120 && c < 280),
    `every index, the first and the last included, drawn about 200 times: ${counts}`,
  );
  const rng = Rng.seeded(5, 3);
  assert.deepEqual(
    [...sampler.epochIndices(3).subarray(0, 5)],
    Array.from({ length: 5 }, () => rng.below(10)),
    "epoch e draws from Rng.seeded(seed, e)",
  );
  assert.deepEqual([...new UniformSampler(10, { samples: 2000, seed: 5 }).epochIndices(1)], [...sampler.epochIndices(1)], "same seed, same draws");
  assert.notDeepEqual([...sampler.epochIndices(1)], [...e0], "epochs differ");
  assert.notDeepEqual([...new UniformSampler(10, { samples: 2000, seed: 6 }).epochIndices(0)], [...e0], "seeds differ");
});

test("bad sizes, sample counts, seeds and epochs are errors naming the value", () => {
  assert.equal(new UniformSampler(0, { samples: 0 }).epochIndices(0).length, 0);
  assert.throws(() => new UniformSampler(0, { samples: 1 }), /UniformSampler: dataset size must be an integer in \[1, 2\^31\] to draw 1 samples, got 0/);
  assert.throws(() => new UniformSampler(2.5, { samples: 1 }), /dataset size must be an integer .*got 2\.5/);
  assert.throws(() => new UniformSampler(4, { samples: -1 }), /UniformSampler: samples must be an integer in \[0, 2\^31\), got -1/);
  assert.throws(() => new UniformSampler(4, {} as never), /samples must be an integer in \[0, 2\^31\), got undefined/);
  assert.throws(() => new UniformSampler(4, { samples: 1, seed: -3 }), /seed must be a non-negative safe integer, got -3/);
  assert.throws(() => new UniformSampler(4, { samples: 1 }).epochIndices(1.5), /UniformSampler: epoch must be a non-negative integer, got 1\.5/);
});
