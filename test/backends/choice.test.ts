import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

import { backendName, BackendChoiceError, chosenBackend } from "../../src/backends/index.js";
import { clampInPlace, sumOfSquares, unscaleAndCheck } from "../../src/ops/optimizer_kernels.js";
import { fillInPlace } from "../../src/ops/inplace.js";
import { tensor } from "../../src/tensor/create.js";
import { repoRoot } from "../helpers/paths.js";

test("TURBINE_BACKEND picks native by default and js on request, and nothing else", () => {
  assert.equal(chosenBackend(), process.env.TURBINE_BACKEND ?? "native");
  assert.equal(chosenBackend("native"), "native");
  assert.equal(chosenBackend("js"), "js");
  assert.throws(
    () => chosenBackend("cuda"),
    (e: Error) => e instanceof BackendChoiceError && e.message === "TURBINE_BACKEND=cuda is not a backend; expected one of native, js",
  );
});

test("the CLI refuses an unknown TURBINE_BACKEND in one line with exit code 2", () => {
  const run = spawnSync(process.execPath, [join(repoRoot(), "dist", "src", "cli", "main.js"), "train", "--set", "train.steps=1"], {
    env: { ...process.env, TURBINE_BACKEND: "bogus" },
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(run.stderr.trim(), "turbine: TURBINE_BACKEND=bogus is not a backend; expected one of native, js");
  assert.equal(run.status, 2);
});

test("tensors know their backend and toHost reads and writes their elements", () => {
  const t = tensor([1, 2, 3]);
  assert.equal(t.storage.backend, backendName);
  assert.deepEqual([...t.toHost()], [1, 2, 3]);
  t.toHost()[1] = 5;
  assert.deepEqual(t.toArray(), [1, 5, 3], "host writes go through on a host-memory backend");
  t.dispose();
  assert.throws(() => t.toHost(), /disposed/);
});

test("the tensor forms of the optimizer kernels work in place on the tensor's own elements", () => {
  const g = tensor([3, -4, 12]);
  assert.equal(sumOfSquares(g), 169);
  clampInPlace(g, -3.5, 3.5);
  assert.deepEqual(g.toArray(), [3, -3.5, 3.5]);
  assert.equal(unscaleAndCheck(g, 0.5), false);
  assert.deepEqual(g.toArray(), [1.5, -1.75, 1.75]);
  assert.equal(unscaleAndCheck(tensor([1, Infinity]), 1), true);
  const version = g.version;
  fillInPlace(g, 0);
  assert.deepEqual(g.toArray(), [0, 0, 0]);
  assert.equal(g.version, version + 1);
  const bf = tensor([1, 2], { dtype: "bfloat16" });
  fillInPlace(bf, 0.5);
  assert.deepEqual(bf.toArray(), [0.5, 0.5]);
});
