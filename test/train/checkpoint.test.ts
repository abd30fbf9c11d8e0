import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { AdamW } from "../../src/optim/adamw.js";
import { tensor } from "../../src/tensor/create.js";
import {
  checkpointName,
  CheckpointError,
  listCheckpoints,
  loadCheckpoint,
  loadLatestCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
} from "../../src/train/checkpoint.js";

const root = mkdtempSync(join(tmpdir(), "turbine-ckpt-"));
after(() => rmSync(root, { recursive: true, force: true }));

function content(step: number) {
  const w = tensor(
    [
      [1, 2],
      [3, step],
    ],
    { requiresGrad: true },
  );
  const opt = new AdamW([w], { lr: 0.1 });
  w.grad = tensor([
    [0.5, -1],
    [2, 1],
  ]);
  opt.step();
  return { model: { w }, optimizer: opt.stateDict(), meta: { step, epoch: 0, rng: { seed: 7, offset: step }, data: { epoch: 0, batchIndex: step } } };
}

test("a checkpoint round-trips model, optimizer state and metadata", () => {
  const dir = join(root, "a", checkpointName(3));
  const c = content(3);
  saveCheckpoint(dir, c);
  const loaded = loadCheckpoint(dir);
  assert.deepEqual(loaded.model.w!.toArray(), c.model.w.toArray());
  assert.deepEqual(loaded.meta.rng, { seed: 7, offset: 3 });
  assert.equal(loaded.meta.step, 3);
  assert.equal(loaded.optimizer!.state[0]!.step, 1);
  assert.deepEqual(loaded.optimizer!.state[0]!.tensors.expAvg!.toArray(), c.optimizer.state[0]!.tensors.expAvg!.toArray());
  assert.equal((loaded.optimizer!.paramGroups[0] as { lr: number }).lr, 0.1);
  assert.deepEqual(readdirSync(join(root, "a")), [checkpointName(3)], "no temporary directory is left behind");
  saveCheckpoint(dir, content(3)); // replacing an existing checkpoint works
  assert.equal(loadCheckpoint(dir).meta.step, 3);
});

test("a corrupt checkpoint is refused with a clear error and the previous one is used", () => {
  const runDir = join(root, "b");
  saveCheckpoint(join(runDir, checkpointName(1)), content(1));
  saveCheckpoint(join(runDir, checkpointName(2)), content(2));
  const file = join(runDir, checkpointName(2), "model.safetensors");
  const bytes = readFileSync(file);
  bytes[bytes.length - 1]! ^= 0xff; // flip bits of the last tensor element
  writeFileSync(file, bytes);
  assert.throws(() => loadCheckpoint(join(runDir, checkpointName(2))), /model\.safetensors: tensor 'w' fails its checksum/);
  const warnings: string[] = [];
  const loaded = loadLatestCheckpoint(runDir, (m) => warnings.push(m));
  assert.equal(loaded.meta.step, 1);
  assert.match(warnings[0]!, /step-00000002: model\.safetensors: tensor 'w' fails its checksum.*trying the previous/);
  const fromDir = loadLatestCheckpoint(join(runDir, checkpointName(2)), () => {});
  assert.equal(fromDir.meta.step, 1, "pointing at the corrupt one falls back too");
});

test("missing or truncated files are errors naming the checkpoint and the file", () => {
  const runDir = join(root, "c");
  const dir = join(runDir, checkpointName(5));
  saveCheckpoint(dir, content(5));
  writeFileSync(join(dir, "optimizer.safetensors"), readFileSync(join(dir, "optimizer.safetensors")).subarray(0, 30));
  assert.throws(
    () => loadCheckpoint(dir),
    (e: Error) => e instanceof CheckpointError && /optimizer\.safetensors: not a valid safetensors file/.test(e.message),
  );
  rmSync(join(dir, "meta.json"));
  assert.throws(() => loadCheckpoint(dir), /meta\.json is missing/);
  assert.throws(() => loadLatestCheckpoint(join(root, "empty"), () => {}), /no checkpoint in/);
  assert.throws(() => loadLatestCheckpoint(runDir, () => {}), /no valid checkpoint/);
});

test("the manifest covers every file: an edited meta.json or safetensors header is refused, and so is a missing manifest", () => {
  const dir = join(root, "e", checkpointName(7));
  saveCheckpoint(dir, content(7));
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
  const model = readFileSync(join(dir, "model.safetensors"));
  const headerEnd = 8 + Number(model.readBigUInt64LE(0));
  const header = Buffer.from(model.subarray(8, headerEnd).toString().trimEnd().replace(/}$/, ',"__metadata__":{"x":"y"}}'));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(join(dir, "model.safetensors"), Buffer.concat([length, header, model.subarray(headerEnd)]));
  assert.throws(() => loadCheckpoint(dir), /model\.safetensors fails its checksum in manifest\.json/);
  writeFileSync(join(dir, "model.safetensors"), model);
  rmSync(join(dir, "manifest.json"));
  assert.throws(() => loadCheckpoint(dir), /manifest\.json is missing or not JSON \(ENOENT\)/);
});

test("pruning keeps the newest checkpoints", () => {
  const runDir = join(root, "d");
  for (const s of [10, 20, 30, 40]) saveCheckpoint(join(runDir, checkpointName(s)), content(s));
  pruneCheckpoints(runDir, 2);
  assert.deepEqual(
    listCheckpoints(runDir).map((d) => d.slice(-13)),
    [checkpointName(40), checkpointName(30)],
  );
});
