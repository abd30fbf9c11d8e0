import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { loadCluster } from "../../src/plan/cluster.js";
import { plan } from "../../src/plan/planner.js";
import { memory } from "../../src/tensor/memory.js";
import { parseConfig } from "../../src/train/config_file.js";
import { repoRoot } from "../helpers/paths.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-plan-"));
after(() => rmSync(work, { recursive: true, force: true }));

function turbine(args: string[], timeout = 60_000): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd: work,
    encoding: "utf8",
    timeout,
    env: { ...process.env, TURBINE_CACHE: join(work, "cache") },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** 4 nodes of 8 GPUs with 80 GB, as a YAML cluster file. */
const cluster = join(work, "cluster.yaml");
writeFileSync(
  cluster,
  [
    "nodes: 4",
    "devicesPerNode: 8",
    "memoryPerDevice: 80e9",
    "flops:",
    "  float32: 19.5e12",
    "  bfloat16: 312e12",
    "intraNode:",
    "  bandwidth: 300e9   # NVLink",
    "  latency: 5e-6",
    "interNode:",
    "  bandwidth: 25e9",
    "  latency: 1e-5",
  ].join("\n"),
);
/** A 6.7B-parameter gpt (32 layers of width 4096, 2048 tokens of context, vocabulary 32000). */
const sevenB = join(work, "gpt-7b.json");
writeFileSync(
  sevenB,
  JSON.stringify({
    model: { kind: "gpt", layers: 32, heads: 32, width: 4096, context: 2048, tiedHead: false },
    data: { kind: "text", batchSize: 8 },
    train: { precision: "bfloat16" },
  }),
);

test("a 6.7B gpt described in a cluster file plans in under a second of CPU, allocates no tensor, and must be sharded to fit 80 GB", () => {
  const config = parseConfig(JSON.parse(readFileSync(sevenB, "utf8")), "7b");
  const before = memory.report().total;
  // CPU time, not wall time: on a loaded machine this process waits for a core too.
  const cpu = process.cpuUsage();
  const result = plan(config, { ranks: 32, memoryPerRank: 80e9, machine: loadCluster(cluster), globalBatch: 256, vocab: 32000 });
  const used = process.cpuUsage(cpu);
  const seconds = (used.user + used.system) / 1e6;
  assert.ok(seconds < 1, `planned in ${seconds.toFixed(2)} s of CPU`);
  assert.equal(memory.report().total, before, "no tensor was allocated");
  assert.ok(Math.abs(result.model.parameters - 6.71e9) < 0.01e9, `${result.model.parameters} parameters`);
  const best = result.fitting[0];
  assert.ok(best, result.explanation.join("\n"));
  assert.ok(best.memory.total <= 80e9);
  // 16 bytes per parameter replicated is 107 GB: plain DDP cannot be the answer.
  assert.ok(best.layout.zero > 0 || best.layout.tensor > 1 || best.layout.pipeline > 1, JSON.stringify(best.layout));
  for (let i = 1; i < result.fitting.length; i++) assert.ok(result.fitting[i - 1]!.time.total <= result.fitting[i]!.time.total, "ranked by step time");
});

test("turbine plan --cluster prints the choice and its reasons; --json carries the same plan", () => {
  const text = turbine(["plan", sevenB, "--cluster", cluster, "--global-batch", "256", "--vocab", "32000", "--top", "3"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /layouts turbine runs for a gpt of 6715M parameters on 32 ranks/);
  assert.match(text.stdout, /^choice: data \d+ × tensor \d+ × pipeline \d+/m);
  assert.match(text.stdout, /fastest 3 of \d+ that fit/);
  const json = turbine(["plan", sevenB, "--cluster", cluster, "--global-batch", "256", "--vocab", "32000", "--top", "3", "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { ranks: number; fitting: { layout: { data: number }; memory: { total: number } }[]; explanation: string[] };
  assert.equal(parsed.ranks, 32);
  assert.equal(parsed.fitting.length, 3);
  assert.ok(parsed.explanation[1]!.startsWith("choice: "));
});

test("bad inputs end with one line and exit 2: a bad cluster file, no --ranks, a model the planner does not describe", () => {
  const bad = join(work, "bad-cluster.yaml");
  writeFileSync(bad, "nodes: 0\ndevicesPerNode: 8\n");
  const cases: [string[], RegExp][] = [
    [["plan", sevenB, "--cluster", bad, "--vocab", "32000"], /--cluster .*bad-cluster\.yaml: nodes: /],
    [["plan", sevenB, "--cluster", join(work, "missing.yaml")], /--cluster .*missing\.yaml: cannot read it/],
    [["plan", sevenB, "--vocab", "32000"], /--ranks is needed/],
    [["plan", sevenB, "--ranks", "8", "--vocab", "32000"], /--memory-per-rank is needed/],
    [["plan", sevenB, "--cluster", cluster, "--ranks", "64", "--vocab", "32000"], /--ranks 64 exceeds the cluster's 4 × 8 devices/],
    [["plan", sevenB, "--ranks", "0"], /--ranks/],
    [["plan", sevenB, "--cluster", cluster, "--vocab", "32000", "--set", "model.moe.experts=4"], /model\.moe is not described yet/],
  ];
  for (const [args, message] of cases) {
    const r = turbine(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
  }
});

test("turbine plan --calibrate caches this CPU's figures, and a plan without --cluster uses them", { timeout: 300_000 }, () => {
  // Catches a calibration that is not written where loadCalibration looks, or a plan that ignores it.
  // A few seconds on a quiet machine (kernels, then three 2-rank jobs); minutes on a loaded one.
  const calibrated = turbine(["plan", "--calibrate"], 240_000);
  assert.equal(calibrated.code, 0, calibrated.stderr);
  assert.match(calibrated.stderr, /calibration of .* written to .*calibration-.*\.json/);
  const tiny = join(work, "tiny.json");
  writeFileSync(tiny, JSON.stringify({ model: { kind: "gpt", layers: 2, heads: 2, width: 32, context: 16 }, data: { kind: "text", batchSize: 4 } }));
  const r = turbine(["plan", tiny, "--ranks", "2", "--memory-per-rank", "1e9", "--vocab", "40"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /calibrated on .* per rank\); \d+ fit in 0\.93 GiB per rank/);
  assert.doesNotMatch(r.stderr, /no calibration/, "the cached calibration was found");
  assert.match(r.stdout, /as configured \(data 2 × tensor 1 × pipeline 1, zero 0/);
});
