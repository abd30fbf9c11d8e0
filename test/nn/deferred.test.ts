import assert from "node:assert/strict";
import { test } from "node:test";

import { deferInit, materialize, materializeShard } from "../../src/nn/deferred.js";
import { Sequential } from "../../src/nn/containers.js";
import { Conv2d } from "../../src/nn/conv.js";
import { Embedding } from "../../src/nn/embedding.js";
import { Linear } from "../../src/nn/linear.js";
import { LayerNorm } from "../../src/nn/normalization.js";
import { GPT } from "../../src/models/gpt.js";
import type { Module } from "../../src/nn/module.js";
import { tensor } from "../../src/tensor/create.js";
import { memory } from "../../src/tensor/memory.js";
import { defaultGenerator, manualSeed } from "../../src/tensor/random.js";

const GPT_CONFIG = { vocabSize: 11, context: 8, layers: 2, heads: 2, width: 8 };

function build(): Module {
  // Every init the layers use: kaiming and bias uniform, normal, ones/zeros, the gpt's re-init.
  return new Sequential(new Linear(5, 7), new Embedding(6, 3), new LayerNorm(3), new Conv2d(2, 3, 3), new GPT(GPT_CONFIG));
}

function values(m: Module): Record<string, number[]> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, t.toArray()]));
}

test("a module built under deferInit allocates no weights, and materialize gives it eager init's values on the same seed", () => {
  manualSeed(7);
  const eager = build();
  const streamAfterEager = defaultGenerator().getState();
  manualSeed(7);
  const before = memory.report().current.parameter;
  const lazy = deferInit(build);
  assert.equal(memory.report().current.parameter, before, "no parameter memory");
  assert.deepEqual(defaultGenerator().getState(), streamAfterEager, "the counters are reserved as eager init reserves them");
  const params = lazy.parameters();
  assert.ok(params.length > 10 && params.every((p) => p.isMeta));
  assert.throws(() => params[0]!.toArray(), /is meta \(built under nn\.deferInit\): materialise its module/);
  materialize(lazy);
  assert.ok(lazy.parameters().every((p) => !p.isMeta && p.category === "parameter"));
  assert.ok(memory.report().current.parameter > before);
  assert.deepEqual(values(lazy), values(eager));
});

test("materializeShard gives a rank its flat range or its chunk along a dim, equal to the eager values there", () => {
  manualSeed(3);
  const eager = values(build());
  manualSeed(3);
  const lazy = deferInit(build);
  for (const [name, p] of lazy.namedParameters()) {
    const expected = eager[name]!;
    // Three uneven flat ranges whose boundaries fall inside Philox blocks of 4.
    const cuts = [0, Math.floor(p.size / 3), Math.floor((2 * p.size) / 3) + 1, p.size].map((c) => Math.min(c, p.size));
    const flat: number[] = [];
    for (let i = 0; i < 3; i++) {
      const shard = materializeShard(p, { start: cuts[i]!, end: cuts[i + 1]! });
      flat.push(...shard.toArray());
      shard.dispose();
    }
    assert.deepEqual(flat, expected, `${name}: flat shards`);
    for (let dim = 0; dim < p.ndim; dim++) {
      const parts = p.shape[dim]! % 2 === 0 ? 2 : 1;
      for (let index = 0; index < parts; index++) {
        const shard = materializeShard(p, { dim, index, parts });
        const chunk = p.shape[dim]! / parts;
        const inner = p.shape.slice(dim + 1).reduce((n, d) => n * d, 1);
        const want = expected.filter(
          (_, i) => Math.floor(i / inner) % p.shape[dim]! >= index * chunk && Math.floor(i / inner) % p.shape[dim]! < (index + 1) * chunk,
        );
        assert.deepEqual(
          shard.shape,
          p.shape.map((d, i) => (i === dim ? chunk : d)),
        );
        assert.deepEqual(shard.toArray(), want, `${name}: chunk ${index}/${parts} along dim ${dim}`);
        shard.dispose();
      }
    }
  }
  assert.throws(() => materializeShard(lazy.parameters()[0]!, { dim: 1, index: 0, parts: 2 }), /the extent 5 must divide by 2/);
});

test("unrealize frees a tensor's elements and makes it meta again; realize gives it new ones (ZeRO-3's gather and free)", () => {
  const layer = new Linear(4, 3);
  const before = memory.report().current.parameter;
  layer.weight.unrealize();
  assert.ok(layer.weight.isMeta);
  assert.equal(memory.report().current.parameter, before - 12 * 4, "the weight's storage went back");
  assert.throws(() => layer.weight.toArray(), /weight|meta|element|storage|disposed/i);
  const values = Array.from({ length: 12 }, (_, i) => i);
  const flat = tensor([99, ...values]);
  layer.weight.realize(flat.viewRange(1, [3, 4]));
  assert.deepEqual(layer.weight.toArray(), values, "a view of a gathered buffer becomes the weight");
  flat.dispose();
  assert.deepEqual(layer.weight.toArray(), values, "the weight keeps the storage alive");
});
