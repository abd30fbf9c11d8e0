import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { Linear } from "../../src/nn/linear.js";
import { sum } from "../../src/ops/reduce.js";
import { AdamW } from "../../src/optim/adamw.js";
import { disposeState } from "../../src/parallel/state.js";
import { SingleProcess } from "../../src/parallel/strategy.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import {
  checkpointName,
  CheckpointError,
  listCheckpoints,
  loadCheckpoint,
  loadLatestCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
} from "../../src/train/checkpoint.js";
import { fixturesDir } from "../helpers/paths.js";

const root = mkdtempSync(join(tmpdir(), "turbine-ckpt-"));
after(() => rmSync(root, { recursive: true, force: true }));

function content(step: number) {
  const model = new Linear(2, 2);
  const opt = new AdamW(model.parameters(), { lr: 0.1 });
  model.weight.grad = tensor([
    [0.5, -1],
    [2, 1],
  ]);
  model.bias!.grad = tensor([step, 1]);
  opt.step();
  return {
    model,
    opt,
    state: new SingleProcess(model).stateDict(opt),
    meta: { step, epoch: 0, rng: { seed: 7, offset: step }, data: { epoch: 0, batchIndex: step } },
  };
}

function save(dir: string, step: number) {
  const c = content(step);
  saveCheckpoint(dir, c);
  disposeState(c.state);
  return c;
}

test("a checkpoint round-trips model, optimizer state and metadata", () => {
  const dir = join(root, "a", checkpointName(3));
  const c = save(dir, 3);
  assert.deepEqual(readdirSync(dir).sort(), ["index.json", "manifest.json", "meta.json", "model-rank00000.safetensors", "optimizer-rank00000.safetensors"]);
  const loaded = loadCheckpoint(dir);
  assert.deepEqual(loaded.writtenBy, { worldSize: 1, layout: "single" });
  assert.deepEqual(loaded.meta.rng, { seed: 7, offset: 3 });
  assert.equal(loaded.meta.step, 3);
  const model = new Linear(2, 2),
    opt = new AdamW(model.parameters(), { lr: 0.5 });
  new SingleProcess(model).loadStateDict(loaded.reader, opt);
  loaded.close();
  assert.deepEqual(model.weight.toArray(), c.model.weight.toArray());
  assert.deepEqual(model.bias!.toArray(), c.model.bias!.toArray());
  assert.equal(opt.paramState(model.bias!)!.step, 1);
  assert.deepEqual(opt.paramState(model.bias!)!.tensors.expAvg!.toArray(), c.opt.paramState(c.model.bias!)!.tensors.expAvg!.toArray());
  assert.deepEqual(opt.paramState(model.weight)!.tensors.expAvgSq!.toArray(), c.opt.paramState(c.model.weight)!.tensors.expAvgSq!.toArray());
  assert.equal(opt.paramGroups[0]!.lr, 0.1);
  assert.deepEqual(readdirSync(join(root, "a")), [checkpointName(3)], "no temporary directory is left behind");
  save(dir, 3); // replacing an existing checkpoint works
  assert.equal(loadCheckpoint(dir).meta.step, 3);
});

test("a version 1 checkpoint (whole tensors, optimizer state keyed by index) still loads, groups matched by position", () => {
  // Written by turbine before sharded checkpoints: Linear(3, 2) after one AdamW step, seed 16,
  // the bias in a second group without weight decay (test/fixtures/checkpoint_v1).
  manualSeed(16);
  const reference = new Linear(3, 2);
  const refOpt = new AdamW([{ params: [reference.weight] }, { params: [reference.bias!], weightDecay: 0 }], { lr: 0.01 });
  sum(reference.forward(randn([4, 3]))).backward();
  refOpt.step();
  const loaded = loadLatestCheckpoint(join(fixturesDir(), "checkpoint_v1"), () => assert.fail("no warning"));
  assert.equal(loaded.meta.version, 1);
  const model = new Linear(3, 2),
    opt = new AdamW([{ params: [model.weight] }, { params: [model.bias!], weightDecay: 0.5 }], { lr: 1 });
  new SingleProcess(model).loadStateDict(loaded.reader, opt);
  loaded.close();
  assert.deepEqual(model.weight.toArray(), reference.weight.toArray());
  assert.equal(opt.paramGroups[1]!.weightDecay, 0);
  for (const p of [0, 1] as const) {
    const [a, b] = [opt.paramState([model.weight, model.bias!][p]!)!, refOpt.paramState([reference.weight, reference.bias!][p]!)!];
    assert.equal(a.step, 1);
    assert.deepEqual(a.tensors.expAvgSq!.toArray(), b.tensors.expAvgSq!.toArray(), `parameter ${p}'s state`);
  }
});

test("a corrupt checkpoint is refused with a clear error and the previous one is used", () => {
  const runDir = join(root, "b");
  save(join(runDir, checkpointName(1)), 1);
  save(join(runDir, checkpointName(2)), 2);
  const file = join(runDir, checkpointName(2), "model-rank00000.safetensors");
  const bytes = readFileSync(file);
  bytes[bytes.length - 1]! ^= 0xff; // flip bits of the last tensor element
  writeFileSync(file, bytes);
  assert.throws(
    () => loadCheckpoint(join(runDir, checkpointName(2))),
    /model-rank00000\.safetensors fails its checksum in manifest\.json \(it was edited or is corrupt\)/,
  );
  const warnings: string[] = [];
  const loaded = loadLatestCheckpoint(runDir, (m) => warnings.push(m));
  assert.equal(loaded.meta.step, 1);
  assert.match(warnings[0]!, /step-00000002: model-rank00000\.safetensors fails its checksum.*trying the previous/);
  const fromDir = loadLatestCheckpoint(join(runDir, checkpointName(2)), () => {});
  assert.equal(fromDir.meta.step, 1, "pointing at the corrupt one falls back too");
});

test("missing or truncated files are errors naming the checkpoint and the file", () => {
  const runDir = join(root, "c");
  const dir = join(runDir, checkpointName(5));
  save(dir, 5);
  const optimizerFile = join(dir, "optimizer-rank00000.safetensors"),
    bytes = readFileSync(optimizerFile);
  writeFileSync(optimizerFile, bytes.subarray(0, 30));
  assert.throws(
    () => loadCheckpoint(dir),
    (e: Error) => e instanceof CheckpointError && /step-00000005: optimizer-rank00000\.safetensors fails its checksum/.test(e.message),
  );
  rmSync(optimizerFile);
  assert.throws(() => loadCheckpoint(dir), /step-00000005: optimizer-rank00000\.safetensors is missing \(ENOENT\)/);
  writeFileSync(optimizerFile, bytes);
  loadCheckpoint(dir).close();
  rmSync(join(dir, "meta.json"));
  assert.throws(() => loadCheckpoint(dir), /meta\.json is missing/);
  assert.throws(() => loadLatestCheckpoint(join(root, "empty"), () => {}), /no checkpoint in/);
  assert.throws(() => loadLatestCheckpoint(runDir, () => {}), /no valid checkpoint/);
});

test("the manifest covers every file: an edited meta.json or safetensors header is refused, and so is a missing manifest", () => {
  const dir = join(root, "e", checkpointName(7));
  save(dir, 7);
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { sha256: Record<string, string> };
  assert.deepEqual(
    Object.keys(manifest.sha256).sort(),
    readdirSync(dir)
      .filter((f) => f !== "manifest.json")
      .sort(),
    "every other file is listed",
  );
  const metaText = readFileSync(join(dir, "meta.json"), "utf8");
  writeFileSync(join(dir, "meta.json"), metaText.replace('"step": 7', '"step": 9'));
  assert.notEqual(readFileSync(join(dir, "meta.json"), "utf8"), metaText, "the edit took");
  assert.throws(() => loadCheckpoint(dir), /step-00000007: meta\.json fails its checksum in manifest\.json \(it was edited or is corrupt\)/);
  writeFileSync(join(dir, "meta.json"), metaText);
  assert.equal(loadCheckpoint(dir).meta.step, 7);
  // Metadata in the header is outside every tensor's bytes: only the whole-file checksum sees it.
  const model = readFileSync(join(dir, "model-rank00000.safetensors"));
  const headerEnd = 8 + Number(model.readBigUInt64LE(0));
  const header = Buffer.from(model.subarray(8, headerEnd).toString().trimEnd().replace(/}$/, ',"__metadata__":{"x":"y"}}'));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(join(dir, "model-rank00000.safetensors"), Buffer.concat([length, header, model.subarray(headerEnd)]));
  assert.throws(() => loadCheckpoint(dir), /model-rank00000\.safetensors fails its checksum in manifest\.json/);
  writeFileSync(join(dir, "model-rank00000.safetensors"), model);
  const indexText = readFileSync(join(dir, "index.json"), "utf8");
  writeFileSync(join(dir, "index.json"), indexText.replace('"worldSize": 1', '"worldSize": 2'));
  assert.throws(() => loadCheckpoint(dir), /index\.json fails its checksum in manifest\.json/);
  writeFileSync(join(dir, "index.json"), indexText);
  rmSync(join(dir, "manifest.json"));
  assert.throws(() => loadCheckpoint(dir), /manifest\.json is missing or not JSON \(ENOENT\)/);
});

test("a checkpoint whose meta.json step is not a whole number ≥ 0 is refused, even with matching checksums", () => {
  for (const [name, step] of [
    ["neg", -3],
    ["frac", 2.5],
  ] as const) {
    const dir = join(root, name, checkpointName(0));
    save(dir, step);
    assert.throws(() => loadCheckpoint(dir), new RegExp(`meta\\.json: step must be a whole number ≥ 0, got ${step}`));
  }
});

test("pruning keeps the newest checkpoints", () => {
  const runDir = join(root, "d");
  for (const s of [10, 20, 30, 40]) save(join(runDir, checkpointName(s)), s);
  pruneCheckpoints(runDir, 2);
  assert.deepEqual(
    listCheckpoints(runDir).map((d) => d.slice(-13)),
    [checkpointName(40), checkpointName(30)],
  );
});
