import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { profileTraining } from "../../src/profile/profile_run.js";
import type { Config } from "../../src/train/config.js";
import { parseConfig, readConfigFile } from "../../src/train/config_file.js";
import { repoRoot } from "../helpers/paths.js";
import { missingFashionMnist, skipIfMissing } from "../helpers/prerequisites.js";

// The verdict on constructed runs, each a few steps in this process (one thread each, like a
// launched rank on a small machine): a cnn starved by its data, the default gpt, and a run
// capped by a memory budget. The communication-bound run is test/cli/profile.test.ts's.

const outDir = mkdtempSync(join(tmpdir(), "turbine-profile-"));
after(() => rmSync(outDir, { recursive: true, force: true }));
const skipNoData = skipIfMissing(missingFashionMnist());

const config = (raw: Record<string, unknown>, name: string): Config => parseConfig({ outDir, ...raw, train: { threads: 1, ...(raw.train as object) } }, name);

test("a cnn whose batches are made and augmented on the training thread (0 loader workers) is data-bound, and the lever is loader workers", {
  skip: skipNoData,
}, () => {
  const augment = [
    { kind: "randomCrop", padding: 4 },
    { kind: "randomHorizontalFlip" },
    { kind: "randomErasing", p: 1 },
    { kind: "normalize", mean: 0.286, std: 0.353 },
  ];
  const cnn = config({ model: { kind: "cnn", channels: [4], hidden: 16 }, data: { kind: "fashion-mnist", batchSize: 256, numWorkers: 0, augment } }, "cnn");
  const report = profileTraining(cnn, { steps: 3, warmup: 1 })!;
  assert.equal(report.verdict.bottleneck, "data", `${report.verdict.evidence}`);
  assert.ok(report.shares.data >= 0.2, `data wait ${report.shares.data}`);
  assert.match(report.verdict.lever, /data\.numWorkers, now 0/);
  assert.ok(
    report.perRank[0]!.ops.some((o) => o.op === "conv2dMaxPool" || o.op === "conv2d"),
    "the convolution is among the ops",
  );
});

test("the default gpt (examples/gpt-char.json) is compute-bound; its trace holds every op with a positive duration on rank 0's track", () => {
  const raw = readConfigFile(join(repoRoot(), "examples", "gpt-char.json")) as Record<string, unknown>;
  const report = profileTraining(config(raw, "gpt-char"), { steps: 2, warmup: 1, trace: true })!;
  assert.equal(report.verdict.bottleneck, "compute", report.verdict.evidence);
  assert.match(report.verdict.lever, /bf16/);
  assert.ok(report.shares.compute > 0.5, `compute ${report.shares.compute}`);
  const lead = report.perRank[0]!;
  assert.ok(
    lead.ops.some((o) => o.op === "linear" && o.phase === "backward" && o.msPerStep > 0),
    "linear's backward is timed",
  );
  assert.deepEqual(lead.collectives, [], "one process: no collectives");
  assert.ok(lead.peakBytes.activation > 0 && lead.peakBytes.optimizer > 0, "the memory peaks by category are the tracker's");
  // The trace as a viewer reads it: JSON with traceEvents, complete events with ts and dur.
  const trace = JSON.parse(JSON.stringify(report.trace)) as {
    traceEvents: { name: string; ph: string; pid: number; ts: number; dur?: number; cat?: string }[];
  };
  const linear = trace.traceEvents.filter((e) => e.ph === "X" && e.name === "linear");
  assert.ok(linear.length > 0 && linear.every((e) => e.dur! > 0 && e.pid === 0 && Number.isFinite(e.ts)));
  assert.equal(trace.traceEvents.filter((e) => e.cat === "step").length, 2, "only the profiled steps");
  assert.ok(
    trace.traceEvents.some((e) => e.ph === "C" && e.name === "memory (bytes)"),
    "the memory timeline is a counter",
  );
});

test("a run whose peak passes 90% of --memory-budget is memory-bound whatever its time shares, and a generous budget is not", { skip: skipNoData }, () => {
  const mlp = config({ model: { kind: "mlp", hidden: [64] }, data: { kind: "fashion-mnist", batchSize: 64 } }, "mlp");
  const capped = profileTraining(mlp, { steps: 2, warmup: 1, memoryBudget: 300_000 })!;
  assert.ok(capped.perRank[0]!.peakBytes.total >= 0.9 * 300_000, `peak ${capped.perRank[0]!.peakBytes.total}`);
  assert.equal(capped.verdict.bottleneck, "memory", capped.verdict.evidence);
  assert.match(capped.verdict.evidence, /of the 293 KiB budget/);
  const roomy = profileTraining(mlp, { steps: 2, warmup: 1, memoryBudget: 1e12 })!;
  assert.notEqual(roomy.verdict.bottleneck, "memory", roomy.verdict.evidence);
});
