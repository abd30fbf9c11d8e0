import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { checkpointName, loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { flatShardState } from "../helpers/checkpoint_state.js";
import { type ShardArgs, shardTensors } from "./checkpoint_shards_rank.js";

const root = mkdtempSync(join(tmpdir(), "turbine-shards-"));
after(() => rmSync(root, { recursive: true, force: true }));

async function writeOn(size: number, args: ShardArgs): Promise<string[]> {
  const job = startThreads({ size, module: new URL("./checkpoint_shards_rank.js", import.meta.url), args, onLine: () => {} });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as string;
  });
}

test("2 ranks' uneven pieces read back as 1, 3 and 4 ranks' cuts, element for element; an index records who wrote them", { timeout: 60_000 }, async () => {
  const dir = join(root, "two", checkpointName(3));
  assert.deepEqual(await writeOn(2, { dir }), ["saved", "saved"]);
  assert.deepEqual(readdirSync(join(root, "two")), [checkpointName(3)], "no temporary directory left");
  const loaded = loadCheckpoint(dir);
  assert.deepEqual(loaded.writtenBy, { worldSize: 2, layout: "test-2" });
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
  // 26 model elements cut in two: w (15) is split 13 | 2, b and e lie on rank 1 whole.
  assert.deepEqual(index.model.w.pieces, [
    { file: "model-rank00000.safetensors", start: 0, length: 13 },
    { file: "model-rank00001.safetensors", start: 13, length: 2 },
  ]);
  const { model, optimizer } = shardTensors();
  for (const size of [1, 3, 4]) {
    for (let rank = 0; rank < size; rank++) {
      const wanted = flatShardState(model, rank, size, optimizer);
      for (const section of ["model", "optimizer"] as const) {
        for (const [name, piece] of Object.entries(wanted[section])) {
          const got = loaded.reader.read(section, name, piece.start, piece.data.size);
          assert.deepEqual(got.toArray(), piece.data.toArray(), `${size} ranks, rank ${rank}: ${section} '${name}' from ${piece.start}`);
          got.dispose();
        }
      }
    }
  }
  assert.throws(() => loaded.reader.read("model", "w", 10, 6), /'w' \[3, 5\]: elements \[10, 16\) are outside its 15/);
  loaded.close();
});

test("a corrupted piece is refused naming its file; a rank that fails to write, or pieces that leave a gap, fail every rank and keep the last complete checkpoint", {
  timeout: 60_000,
}, async () => {
  const runDir = join(root, "failures");
  const good = join(runDir, checkpointName(3));
  assert.deepEqual(await writeOn(2, { dir: good }), ["saved", "saved"]);
  const file = join(good, "optimizer-rank00001.safetensors"),
    bytes = readFileSync(file);
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 1]! ^= 0x01;
  writeFileSync(file, flipped);
  assert.throws(() => loadCheckpoint(good), /step-00000003: optimizer-rank00001\.safetensors fails its checksum in manifest\.json/);
  writeFileSync(file, bytes);

  const failed = await writeOn(3, { dir: good, failRank: 1 });
  assert.match(failed[1]!, /rank 1's model piece 'b' is not 1-D elements 5\.\. of \[7\]/);
  for (const r of [0, 2]) assert.match(failed[r]!, /step-00000003: rank 1 failed to write its part; nothing was kept/);
  const gap = await writeOn(2, { dir: good, gapRank: 0 });
  for (const message of gap) assert.match(message, /model tensor 'w': elements 0\.\.13 are in no piece|rank 0 failed to complete it/);
  assert.match(gap[0]!, /model tensor 'w': elements 0\.\.13 are in no piece/);
  assert.deepEqual(readdirSync(runDir), [checkpointName(3)], "the failed writes left nothing behind");
  const kept = loadCheckpoint(good);
  assert.equal(kept.writtenBy.worldSize, 2, "the complete checkpoint of 2 ranks is still the one there");
  kept.close();
  assert.ok(!existsSync(`${good}.old`));
});

test("one process writes the same format as a rank of a group", () => {
  const dir = join(root, "single", checkpointName(1));
  const { model, optimizer } = shardTensors();
  saveCheckpoint(dir, { state: flatShardState(model, 0, 1, optimizer), meta: { step: 1, epoch: 0 } });
  const loaded = loadCheckpoint(dir);
  assert.deepEqual(loaded.reader.read("model", "e", 1, 3).toArray(), [201, 202, 203]);
  assert.deepEqual([...loaded.reader.tensors.optimizer.keys()].sort(), ["b.expAvg", "w.expAvg"]);
  loaded.close();
});
