import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { seededRandom } from "../../src/search/random.js";
import { checkSpaceFits, paramSets, parseSearchSpace, perturbParams, readSearchSpace, sampleParams } from "../../src/search/space.js";
import { ConfigError } from "../../src/train/config_file.js";

const tmp = mkdtempSync(join(tmpdir(), "turbine-space-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const base = { model: { kind: "cnn" }, data: { kind: "fashion-mnist" }, train: { steps: 10 } };

test("a space file's fields sample within their ranges, the same values for the same seed and trial", () => {
  const file = join(tmp, "space.yaml");
  writeFileSync(
    file,
    "optimizer.lr: { loguniform: [1.0e-4, 1.0e-2] }\noptimizer.weightDecay: { uniform: [0, 0.1] }\nmodel.hidden: { int: [16, 18] }\nmodel.channels: { choice: [[8, 16], [16, 32]] }\n",
  );
  const space = readSearchSpace(file);
  checkSpaceFits(space, base, file);
  const seen = new Set<unknown>();
  for (let trial = 0; trial < 200; trial++) {
    const p = sampleParams(space, seededRandom(7, trial));
    assert.deepEqual(p, sampleParams(space, seededRandom(7, trial)));
    assert.ok((p["optimizer.lr"] as number) >= 1e-4 && (p["optimizer.lr"] as number) <= 1e-2);
    assert.ok((p["optimizer.weightDecay"] as number) >= 0 && (p["optimizer.weightDecay"] as number) <= 0.1);
    seen.add(p["model.hidden"]);
    assert.ok([16, 32].includes((p["model.channels"] as number[])[1]!));
  }
  // Integer ranges include both ends.
  assert.deepEqual([...seen].sort(), [16, 17, 18]);
  assert.notDeepEqual(sampleParams(space, seededRandom(7, 0)), sampleParams(space, seededRandom(7, 1)));
  assert.deepEqual(paramSets({ "model.channels": [8, 16], "optimizer.lr": 0.5 }), ["model.channels=[8,16]", "optimizer.lr=0.5"]);
});

test("bad spaces are one-line ConfigErrors naming the field and what is allowed", () => {
  const refused = (raw: unknown, pattern: RegExp): void =>
    assert.throws(
      () => checkSpaceFits(parseSearchSpace(raw, "s.yaml"), base, "s.yaml"),
      (e: Error) => e instanceof ConfigError && pattern.test(e.message) && !e.message.includes("\n"),
    );
  refused({ "optimizer.lrr": { uniform: [0, 1] } }, /optimizer\.lrr.*unknown field.*allowed here: .*lr/);
  refused({ "model.hidden": { choice: ["wide"] } }, /model\.hidden="wide" does not fit.*expected/);
  refused({ "optimizer.lr": { loguniform: [0, 1] } }, /loguniform needs low > 0/);
  refused({ "optimizer.lr": { uniform: [1, 0] } }, /low > high/);
  refused({ "optimizer.lr": { normal: [0, 1] } }, /unknown form 'normal'/);
  refused({ "optimizer.lr": 0.1 }, /expected \{ choice/);
  refused({ "train.steps": { int: [1, 5] } }, /set by the search itself/);
  refused([], /expected a mapping/);
  refused({}, /no fields to search/);
  assert.throws(() => readSearchSpace(join(tmp, "missing.yaml")), /space .*missing\.yaml: cannot read it \(ENOENT\)/);
  writeFileSync(join(tmp, "bad.yaml"), "optimizer.lr: { uniform: [0, 1]\n");
  assert.throws(
    () => readSearchSpace(join(tmp, "bad.yaml")),
    (e: Error) => /not valid YAML/.test(e.message) && !e.message.includes("\n"),
  );
});

test("PBT's perturbation: ranges outside the model ×0.8 or ×1.2 within their ends, integers rounded; choices and model fields kept", () => {
  const space = parseSearchSpace(
    {
      "optimizer.lr": { uniform: [0.1, 1] },
      "train.accumulate": { int: [1, 10] },
      "model.hidden": { int: [8, 64] },
      "schedule.decay": { choice: ["constant", "cosine"] },
    },
    "s",
  );
  const params = { "optimizer.lr": 0.5, "train.accumulate": 5, "model.hidden": 32, "schedule.decay": "cosine" };
  for (let i = 0; i < 20; i++) {
    const next = perturbParams(space, params, seededRandom(i));
    assert.ok([0.4, 0.6].some((v) => Math.abs((next["optimizer.lr"] as number) - v) < 1e-12));
    assert.ok([4, 6].includes(next["train.accumulate"] as number));
    assert.equal(next["model.hidden"], 32);
    assert.equal(next["schedule.decay"], "cosine");
  }
  // Clamped to the range's ends.
  assert.ok((perturbParams(space, { ...params, "optimizer.lr": 1 }, () => 0.9)["optimizer.lr"] as number) === 1);
});
