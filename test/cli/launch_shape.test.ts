import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { readHostfile } from "../../src/cli/hostfile.js";
import { jobShape } from "../../src/cli/launch.js";
import { exportMpiRankEnvironment, rankEnvironment } from "../../src/cli/rank_env.js";

const work = mkdtempSync(join(tmpdir(), "turbine-shape-"));
after(() => rmSync(work, { recursive: true, force: true }));
const hosts = join(work, "hosts");
writeFileSync(hosts, "# the cluster\nnode1 slots=4   # big one\n\nnode2 slots=2 max_slots=8\nnode3\n");

test("a hostfile is read line by line: names, slots, comments and blank lines skipped", () => {
  assert.deepEqual(readHostfile(hosts), [
    { name: "node1", slots: 4, line: 2 },
    { name: "node2", slots: 2, line: 4 },
    { name: "node3", line: 5 },
  ]);
});

test("launch's job shape: ranks in all, or per node on the first --nnodes hosts, or per Slurm node", () => {
  const base = { backend: "mpi", timeout: "300" };
  assert.deepEqual(jobShape({ ...base, n: "4" }), { size: 4, placement: [] });
  assert.deepEqual(jobShape({ ...base, n: "6", hostfile: hosts }), { size: 6, placement: ["--hostfile", hosts] }, "-n alone: Open MPI places the ranks");
  assert.deepEqual(
    jobShape({ ...base, nprocPerNode: "2", hostfile: hosts }),
    {
      size: 6,
      placement: ["--host", "node1:2,node2:2,node3:2"],
      hosts: [
        { name: "node1", ranks: 2 },
        { name: "node2", ranks: 2 },
        { name: "node3", ranks: 2 },
      ],
    },
    "every host by default",
  );
  const twoOfTwo = [
    { name: "node1", ranks: 2 },
    { name: "node2", ranks: 2 },
  ];
  assert.deepEqual(jobShape({ ...base, nprocPerNode: "2", nnodes: "2", hostfile: hosts }), {
    size: 4,
    placement: ["--host", "node1:2,node2:2"],
    hosts: twoOfTwo,
  });
  assert.deepEqual(
    jobShape({ ...base, n: "4", nnodes: "2", hostfile: hosts }),
    { size: 4, placement: ["--host", "node1:2,node2:2"], hosts: twoOfTwo },
    "-n divided over the nodes",
  );
  assert.deepEqual(jobShape({ ...base, nprocPerNode: "3" }), { size: 3, placement: [] }, "one machine without a hostfile");
  // Every host with slots=: Open MPI fills them in order, so an elastic restart knows each host's ranks.
  const slotted = join(work, "slotted");
  writeFileSync(slotted, "a slots=2\nb slots=2\nc slots=2\n");
  assert.deepEqual(jobShape({ ...base, n: "5", hostfile: slotted }), {
    size: 5,
    placement: ["--hostfile", slotted],
    hosts: [
      { name: "a", ranks: 2 },
      { name: "b", ranks: 2 },
      { name: "c", ranks: 1 },
    ],
  });
  assert.deepEqual(jobShape({ ...base, nprocPerNode: "2", nnodes: "3" }, { SLURM_JOB_ID: "7" }), { size: 6, placement: ["--map-by", "ppr:2:node"] });
  assert.deepEqual(jobShape({ backend: "threads", timeout: "300", nprocPerNode: "3" }), { size: 3, placement: [] });
  assert.throws(() => jobShape({ ...base, nprocPerNode: "3", nnodes: "2", hostfile: hosts }), /hosts:4: node2 has slots=2, fewer than --nproc-per-node 3/);
  assert.throws(() => jobShape({ ...base, n: "5", nnodes: "2", hostfile: hosts }), /-n 5 ranks do not divide over --nnodes 2/);
  assert.throws(
    () => jobShape({ ...base, n: "5", nprocPerNode: "2", nnodes: "2", hostfile: hosts }),
    /-n 5 disagrees with --nnodes 2 × --nproc-per-node 2 = 4/,
  );
});

test("each rank's environment carries torchrun's names, also from Open MPI's", () => {
  assert.deepEqual(rankEnvironment({ rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2 }), {
    RANK: "3",
    WORLD_SIZE: "4",
    LOCAL_RANK: "1",
    LOCAL_WORLD_SIZE: "2",
  });
  const env: NodeJS.ProcessEnv = { OMPI_COMM_WORLD_RANK: "5", OMPI_COMM_WORLD_SIZE: "8", OMPI_COMM_WORLD_LOCAL_RANK: "1", OMPI_COMM_WORLD_LOCAL_SIZE: "4" };
  exportMpiRankEnvironment(env);
  assert.equal(env.RANK, "5");
  assert.equal(env.WORLD_SIZE, "8");
  assert.equal(env.LOCAL_RANK, "1");
  assert.equal(env.LOCAL_WORLD_SIZE, "4");
  const outside: NodeJS.ProcessEnv = {};
  exportMpiRankEnvironment(outside);
  assert.deepEqual(outside, {}, "nothing outside Open MPI");
});
