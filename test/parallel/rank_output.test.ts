import assert from "node:assert/strict";
import { test } from "node:test";

import { linePrefixer, mpiLaunchRank, rankPrefix } from "../../src/parallel/rank_output.js";

test("linePrefixer tags each line once, across chunk boundaries", () => {
  const tag = linePrefixer(rankPrefix(3));
  assert.equal(tag("a\nb"), "[rank 3] a\n[rank 3] b");
  assert.equal(tag("c\n\n"), "c\n[rank 3] \n");
  assert.equal(tag(""), "");
  assert.equal(tag("d"), "[rank 3] d");
});

test("with keepJson, a whole JSON line is left untagged (--json's summary under launch), any other line tagged", () => {
  const tag = linePrefixer(rankPrefix(0), { keepJson: true });
  assert.equal(tag('{"steps":4}\n'), '{"steps":4}\n');
  assert.equal(tag("trained {x}\n"), "[rank 0] trained {x}\n");
  assert.equal(tag('{"partial":'), '[rank 0] {"partial":', "a JSON line split over writes is tagged");
  assert.equal(linePrefixer(rankPrefix(0))('{"steps":4}\n'), '[rank 0] {"steps":4}\n', "without keepJson, tagged");
});

test("mpiLaunchRank reads mpirun's rank only in an mpi launch", () => {
  assert.equal(mpiLaunchRank({ TURBINE_DIST_BACKEND: "mpi", OMPI_COMM_WORLD_RANK: "2" }), 2);
  assert.equal(mpiLaunchRank({ TURBINE_DIST_BACKEND: "mpi", PMIX_RANK: "0" }), 0);
  assert.equal(mpiLaunchRank({ OMPI_COMM_WORLD_RANK: "2" }), null, "not launched by turbine");
  assert.equal(mpiLaunchRank({ TURBINE_DIST_BACKEND: "mpi", OMPI_COMM_WORLD_RANK: "x" }), null);
});
