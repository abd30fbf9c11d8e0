import assert from "node:assert/strict";
import { test } from "node:test";

import { DeviceMesh, MESH_DIMS, type MeshShape, meshShape } from "../../src/parallel/mesh.js";
import { startThreads } from "../../src/parallel/threads/spawn.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";
import type { MeshRankResult } from "./mesh_rank.js";
import { runUnderMpi } from "./mpi_module.js";

test("meshShape: data defaults to ranks / (tensor × pipeline); a layout that does not fit names its numbers", () => {
  assert.deepEqual(meshShape(8, { tensor: 2, pipeline: 2 }), { data: 2, tensor: 2, pipeline: 2, expert: 1 });
  assert.deepEqual(meshShape(4, {}), { data: 4, tensor: 1, pipeline: 1, expert: 1 });
  assert.throws(() => meshShape(6, { tensor: 4 }), /tensor 4 × pipeline 1 = 4 does not divide the 6 ranks/);
  assert.throws(() => meshShape(8, { data: 2, tensor: 2 }), /data 2 × tensor 2 × pipeline 1 = 4 does not equal the 8 ranks/);
  assert.throws(() => meshShape(8, { data: 4, expert: 3, tensor: 2 }), /parallel.expert 3 must divide the data-parallel degree 4/);
  assert.throws(() => meshShape(2, { pipeline: 0 }), /parallel.pipeline must be a positive integer, got 0/);
});

test("DeviceMesh: tensor is the fastest dimension, pipeline the slowest, expert groups are consecutive data ranks", () => {
  const shape: MeshShape = { data: 4, tensor: 2, pipeline: 2, expert: 2 };
  assert.deepEqual(DeviceMesh.groupsOf(shape, "tensor").slice(0, 3), [
    [0, 1],
    [2, 3],
    [4, 5],
  ]);
  assert.deepEqual(DeviceMesh.groupsOf(shape, "data")[0], [0, 2, 4, 6]);
  assert.deepEqual(DeviceMesh.groupsOf(shape, "pipeline")[0], [0, 8]);
  assert.deepEqual(DeviceMesh.groupsOf(shape, "expert").slice(0, 3), [
    [0, 2],
    [1, 3],
    [4, 6],
  ]);
  for (let rank = 0; rank < 16; rank++) assert.equal(DeviceMesh.rankAt(shape, DeviceMesh.coordsOf(shape, rank)), rank);
  // Every dimension's groups partition the ranks.
  for (const dim of MESH_DIMS)
    assert.deepEqual(
      DeviceMesh.groupsOf(shape, dim)
        .flat()
        .sort((a, b) => a - b),
      [...Array(16).keys()],
    );
});

/** Checks each rank's sub-groups against the layout: the ranks an all-reduce over them really summed. */
function checkRanks(results: MeshRankResult[][], shapes: MeshShape[]): void {
  for (const [rank, perShape] of results.entries()) {
    for (const [i, shape] of shapes.entries()) {
      const got = perShape[i]!;
      assert.deepEqual(got.coords, DeviceMesh.coordsOf(shape, rank), `rank ${rank} shape ${JSON.stringify(shape)}`);
      for (const dim of MESH_DIMS) {
        const members = DeviceMesh.groupsOf(shape, dim).find((g) => g.includes(rank))!;
        const expected = { rankSum: members.reduce((a, b) => a + b, 0), count: members.length, size: members.length, rank: members.indexOf(rank) };
        assert.deepEqual(got.groups[dim], expected, `rank ${rank}, ${dim} group of ${JSON.stringify(shape)}`);
      }
    }
  }
}

test("DeviceMesh on 8 threads: d=2 × t=2 × p=2 and d=4 × t=2 with expert 2, every sub-group joins exactly its ranks", { timeout: 60_000 }, async () => {
  const shapes: MeshShape[] = [
    { data: 2, tensor: 2, pipeline: 2, expert: 1 },
    { data: 4, tensor: 2, pipeline: 1, expert: 2 },
  ];
  const job = startThreads({ size: 8, module: new URL("./mesh_rank.js", import.meta.url), args: { shapes }, onLine: () => {} });
  const outcomes = await job.done;
  checkRanks(
    outcomes.map((o) => {
      assert.ok(o.ok, o.ok ? "" : o.error.stack);
      return o.result as MeshRankResult[];
    }),
    shapes,
  );
});

test("DeviceMesh on 4 mpi ranks: t=2 × p=2 and d=2 × t=2 with expert 2", { skip: skipIfMissing(missingMpi()), timeout: 120_000 }, () => {
  const shapes: MeshShape[] = [
    { data: 1, tensor: 2, pipeline: 2, expert: 1 },
    { data: 2, tensor: 2, pipeline: 1, expert: 2 },
  ];
  checkRanks(runUnderMpi<MeshRankResult[]>(4, "mesh_rank.js", { shapes }), shapes);
});
