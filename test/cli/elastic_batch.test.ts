import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { elasticLimits, formatElastic } from "../../src/cli/elastic.js";
import { keepGlobalBatch } from "../../src/cli/elastic_batch.js";
import { restartPlacement } from "../../src/cli/elastic_hosts.js";

const work = mkdtempSync(join(tmpdir(), "turbine-elastic-unit-"));
after(() => rmSync(work, { recursive: true, force: true }));

test("keepGlobalBatch: more accumulation, else a larger batch, else says the global batch shrinks", () => {
  // 4 × 8 × 1 = 32 on 2 ranks: accumulate 2 (not batchSize 16, which would change the micro-batch).
  assert.deepEqual(keepGlobalBatch({ ranks: 4, batchSize: 8, accumulate: 1 }, 2).layout, { ranks: 2, batchSize: 8, accumulate: 2 });
  assert.deepEqual(keepGlobalBatch({ ranks: 4, batchSize: 8, accumulate: 3 }, 1).layout, { ranks: 1, batchSize: 8, accumulate: 12 });
  // 3 × 4 × 1 = 12 on 2 ranks: 3 micro-batches do not split over 2 ranks, 12 samples do.
  const larger = keepGlobalBatch({ ranks: 3, batchSize: 4, accumulate: 1 }, 2);
  assert.deepEqual(larger.layout, { ranks: 2, batchSize: 6, accumulate: 1 });
  assert.equal(larger.change, "data-parallel ranks 3 → 2: data.batchSize 4 → 6 keeps the global batch of 12");
  // 4 × 8 × 1 = 32 on 3 ranks does not divide: the per-rank layout stays and the change is said.
  const shrunk = keepGlobalBatch({ ranks: 4, batchSize: 8, accumulate: 1 }, 3);
  assert.equal(shrunk.kept, false);
  assert.deepEqual(shrunk.layout, { ranks: 3, batchSize: 8, accumulate: 1 });
  assert.match(shrunk.change!, /global batch 32 does not divide over 3 ranks; it becomes 24 \(3 × 8 × 1\)/);
  assert.deepEqual(keepGlobalBatch({ ranks: 2, batchSize: 8, accumulate: 2 }, 2), {
    layout: { ranks: 2, batchSize: 8, accumulate: 2 },
    kept: true,
    change: null,
  });
});

test("elasticLimits: --max-restarts a non-negative integer, --min-ranks between 1 and the job's ranks", () => {
  assert.equal(elasticLimits({}, 4), null);
  assert.deepEqual(elasticLimits({ maxRestarts: "0" }, 4), { maxRestarts: 0, minRanks: 4 });
  assert.deepEqual(elasticLimits({ maxRestarts: "3", minRanks: "2" }, 4), { maxRestarts: 3, minRanks: 2 });
  assert.throws(() => elasticLimits({ maxRestarts: "-1" }, 4), /--max-restarts must be a non-negative integer, got "-1"/);
  assert.throws(() => elasticLimits({ maxRestarts: "1.5" }, 4), /--max-restarts must be a non-negative integer, got "1.5"/);
  assert.throws(() => elasticLimits({ maxRestarts: "2", minRanks: "0" }, 4), /--min-ranks must be a positive integer, got "0"/);
  assert.throws(() => elasticLimits({ maxRestarts: "2", minRanks: "5" }, 4), /--min-ranks 5 is more than the job's 4 ranks/);
  assert.throws(() => elasticLimits({ minRanks: "2" }, 4), /--min-ranks needs --max-restarts/);
});

test("restartPlacement leaves out the hosts gone from the hostfile or unreachable, with their ranks", () => {
  const hostfile = join(work, "hosts");
  writeFileSync(hostfile, "a slots=2\nb slots=2\nc slots=2\n");
  const hosts = [
    { name: "a", ranks: 2 },
    { name: "b", ranks: 2 },
    { name: "c", ranks: 2 },
  ];
  const first = { size: 6, placement: ["--host", "a:2,b:2,c:2"] };
  assert.deepEqual(
    restartPlacement(hosts, hostfile, first, () => true),
    first,
  );
  assert.deepEqual(
    restartPlacement(hosts, hostfile, first, (h) => h !== "b"),
    { size: 4, placement: ["--host", "a:2,c:2"] },
  );
  writeFileSync(hostfile, "a slots=2\n");
  assert.deepEqual(
    restartPlacement(hosts, hostfile, first, () => true),
    { size: 2, placement: ["--host", "a:2"] },
  );
  // Without a host list (one machine), a restart runs on the first shape.
  assert.deepEqual(
    restartPlacement(undefined, undefined, { size: 2, placement: [] }, () => false),
    { size: 2, placement: [] },
  );
});

test("formatElastic names the restarts, the lost steps and each segment", () => {
  const line = formatElastic({
    restarts: 1,
    lost_steps: 3,
    segments: [
      { ranks: 2, start_step: 0, end_step: 7, failure: "rank 1: rank 1 exited with code 1" },
      { ranks: 2, start_step: 4, end_step: 12, failure: null },
    ],
  });
  assert.equal(line, "elastic: 1 restart, 3 steps lost; segments: 2 ranks steps 0–7 (rank 1: rank 1 exited with code 1), 2 ranks steps 4–12");
});
