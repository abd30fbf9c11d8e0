import assert from "node:assert/strict";
import { test } from "node:test";

import { packMeta } from "../../../src/backends/meta.js";
import { metaFields } from "../../../src/backends/js/meta_fields.js";
import { loadNative } from "../../../src/backends/native/addon.js";

const native = loadNative();

test("the js backend's meta layouts (CONV_META, POOL_META, MATMUL_META) equal the addon's, field for field", () => {
  assert.deepEqual(metaFields(), native.metaFields());
});

test("each of the addon's meta layouts numbers its fields 0..count-1, each once", () => {
  const layouts = native.metaFields();
  assert.deepEqual(Object.keys(layouts).sort(), ["conv2d", "matmul", "pool2d"]);
  for (const [name, layout] of Object.entries(layouts)) {
    const indices = Object.values(layout.fields as Record<string, number>).sort((a, b) => a - b);
    assert.deepEqual(indices, [...Array(layout.count).keys()], name);
  }
  assert.equal(layouts.conv2d.count, 15);
  assert.equal(layouts.pool2d.count, 13);
  assert.equal(layouts.matmul.count, 13);
});

test("packMeta puts each value at its field's index and refuses a field the layout lacks", () => {
  const layout = { fields: { a: 2, b: 0, c: 1 }, count: 3 };
  assert.deepEqual([...packMeta(layout, { a: 7, b: 8, c: 9 })], [8, 9, 7]);
  assert.throws(() => packMeta(layout as never, { a: 1, d: 2 }), /packMeta: the backend's meta has no field "d"/);
});

test("a meta packed by name drives the addon's kernel: matmul with transB reads B as [N, K]", () => {
  const m = native.metaFields().matmul;
  const meta = packMeta(m, {
    batchA: 1,
    batchB: 1,
    m: 1,
    n: 2,
    k: 2,
    transA: 0,
    transB: 1,
    accumulate: 0,
    runtimeM: 0,
    runtimeN: 0,
    runtimeK: 0,
    padA: 0,
    padB: 0,
  });
  const c = new Float32Array(2);
  // A = [1, 2]; B stored [N, K] = [[3, 4], [5, 6]] → C = [1·3 + 2·4, 1·5 + 2·6].
  native.matmul(Float32Array.of(1, 2), Float32Array.of(3, 4, 5, 6), c, null, 0, 0, meta);
  assert.deepEqual([...c], [11, 17]);
});
