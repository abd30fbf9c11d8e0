import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { loadSafetensors } from "../../src/tensor/safetensors.js";
import { checkpointName } from "../../src/train/checkpoint.js";
import { repoRoot } from "../helpers/paths.js";
import { shardTensors } from "../train/checkpoint_shards_rank.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-consolidate-"));
after(() => rmSync(work, { recursive: true, force: true }));

function turbine(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: "utf8", timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("turbine checkpoint consolidate: 2 ranks' pieces become one plain safetensors file; a bad folder exits 2, a corrupt piece 1 naming its file", {
  timeout: 120_000,
}, async () => {
  const checkpoints = join(work, "run", "checkpoints"),
    dir = join(checkpoints, checkpointName(3));
  mkdirSync(checkpoints, { recursive: true });
  const job = startThreads({ size: 2, module: new URL("../train/checkpoint_shards_rank.js", import.meta.url), args: { dir }, onLine: () => {} });
  for (const o of await job.done) assert.ok(o.ok && o.result === "saved", o.ok ? String(o.result) : o.error.stack);

  const out = join(work, "model.safetensors");
  const r = turbine(["checkpoint", "consolidate", dir, out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /model\.safetensors: 3 tensors, .*step 3, written by 2 ranks, test-2\)/);
  const { tensors, metadata } = loadSafetensors(out);
  const { model } = shardTensors();
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(model).sort(), "the model only, no optimizer state");
  for (const [name, t] of Object.entries(model)) {
    assert.deepEqual(tensors[name]!.shape, t.shape, name);
    assert.deepEqual(tensors[name]!.toArray(), t.toArray(), name);
  }
  assert.equal(metadata.format, "pt");
  assert.equal(turbine(["checkpoint", "consolidate", join(work, "run"), join(work, "newest.safetensors")]).code, 0, "a run folder: its newest checkpoint");

  const missing = turbine(["checkpoint", "consolidate", join(work, "nowhere"), out]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^turbine: checkpoint consolidate: .*nowhere is not a folder; give a step-N checkpoint folder/m);
  const notCheckpoint = turbine(["checkpoint", "consolidate", work, out]);
  assert.equal(notCheckpoint.code, 2);
  assert.match(notCheckpoint.stderr, /is not a checkpoint \(no meta\.json\), a run folder/);
  assert.equal(turbine(["checkpoint", "consolidate", dir, join(work, "model.bin")]).code, 2);
  assert.equal(turbine(["checkpoint", "consolidate", dir]).code, 2, "OUT is required");

  // Into the checkpoint itself: refused before anything is written, its files unchanged.
  const piece = join(dir, "model-rank00000.safetensors"),
    before = readFileSync(piece);
  const inside = turbine(["checkpoint", "consolidate", dir, piece]);
  assert.equal(inside.code, 2, inside.stderr);
  assert.match(inside.stderr, /the output .*model-rank00000\.safetensors is inside the checkpoint .*step-00000003, whose files it would replace or add to/);
  assert.deepEqual(readFileSync(piece), before);

  const file = join(dir, "model-rank00001.safetensors"),
    bytes = readFileSync(file);
  bytes[bytes.length - 1]! ^= 0x10;
  writeFileSync(file, bytes);
  const corrupt = turbine(["checkpoint", "consolidate", dir, join(work, "corrupt.safetensors")]);
  assert.equal(corrupt.code, 1, corrupt.stderr);
  assert.match(corrupt.stderr, /^turbine: checkpoint .*step-00000003: model-rank00001\.safetensors fails its checksum in manifest\.json/m);
  assert.doesNotMatch(corrupt.stderr, /\n\s+at /, "no stack trace");
});
