import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { createTestbed, testbedUnavailable } from "../../testbed/netns.js";
import { repoRoot } from "../helpers/paths.js";
import { missingFashionMnist, missingMpi, skipIfMissing } from "../helpers/prerequisites.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-profile-cli-"));
after(() => rmSync(work, { recursive: true, force: true }));

function turbine(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: "utf8", timeout: 300_000, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A small mlp on Fashion-MNIST, profiled for 2 steps after 1. */
const mlp = (hidden: number, batch: number): string[] => [
  "--set",
  "model.kind=mlp",
  "--set",
  `model.hidden=[${hidden}]`,
  "--set",
  `data.batchSize=${batch}`,
  "--set",
  `outDir=${work}`,
  "--steps",
  "2",
  "--warmup",
  "1",
];

interface TraceFile {
  traceEvents: { name: string; ph: string; pid: number; tid: number; ts: number; dur?: number; cat?: string; args?: Record<string, number | string> }[];
  otherData: { ranks: number; droppedOps: number; note: string };
}

test("profile: bad flags and configs end with exit 2 and one line naming the value, before any step runs", () => {
  const cases: [string[], RegExp][] = [
    [["profile", "--steps", "0"], /option '--steps <n>' argument '0' is invalid/],
    [["profile", "--memory-budget", "lots"], /--memory-budget <bytes>' argument 'lots' is invalid/],
    [["profile", "--trace", join(work, "no-such-folder", "t.json")], /--trace .*no-such-folder.*does not exist/],
    [["profile", "--trace", work], /is a folder; give a file name/],
    [["profile", "--set", "model.kind=rnn"], /model/],
    [["launch", "-n", "2", "--", "profile", "--set", "train.seed=-1"], /train\.seed/],
  ];
  for (const [args, message] of cases) {
    const r = turbine(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
    assert.doesNotMatch(r.stdout, /profiled/);
  }
});

test("launch -n 2 -- profile: rank 0 merges both ranks into one trace (one pid per rank, the loader worker's batches on their own track) and counts DDP's all-reduce of every gradient byte", {
  skip: skipIfMissing(missingFashionMnist()),
  timeout: 120_000,
}, () => {
  const trace = join(work, "threads.json");
  const twoRanks = ["launch", "-n", "2", "--threads-per-worker", "1", "--"];
  const r = turbine([...twoRanks, "profile", ...mlp(16, 16), "--set", "data.numWorkers=1", "--trace", trace, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
    ranks: number;
    perRank: { rank: number; collectives: { kind: string; bytesPerStep: number; callsPerStep: number }[] }[];
    trace: { file: string; events: number };
  };
  assert.equal(report.ranks, 2);
  assert.deepEqual(
    report.perRank.map((p) => p.rank),
    [0, 1],
  );
  // 784·16 + 16 + 16·10 + 10 float32 gradients, all-reduced once per step on each rank.
  const gradientBytes = (784 * 16 + 16 + 16 * 10 + 10) * 4;
  for (const p of report.perRank) {
    const allReduce = p.collectives.filter((c) => c.kind === "allReduce");
    const bytes = allReduce.reduce((s, c) => s + c.bytesPerStep, 0);
    assert.ok(bytes >= gradientBytes && bytes <= gradientBytes + 64, `rank ${p.rank}: ${bytes} bytes all-reduced per step, the gradients are ${gradientBytes}`);
  }
  assert.match(r.stdout, /^\[rank 0\] verdict: (compute|data|communication): /m);
  const file = JSON.parse(readFileSync(trace, "utf8")) as TraceFile;
  assert.equal(report.trace.events, file.traceEvents.length);
  assert.deepEqual([...new Set(file.traceEvents.map((e) => e.pid))].sort(), [0, 1], "one track group per rank");
  for (const pid of [0, 1]) {
    assert.ok(
      file.traceEvents.some((e) => e.pid === pid && e.ph === "X" && e.name === "linear" && e.dur! > 0),
      `rank ${pid}'s linear ops`,
    );
    assert.ok(
      file.traceEvents.some((e) => e.pid === pid && e.cat === "collective" && e.name === "allReduce" && Number(e.args!.bytes) > 0),
      `rank ${pid}'s all-reduce`,
    );
    assert.ok(
      file.traceEvents.some((e) => e.pid === pid && e.ph === "M" && e.args?.name === `rank ${pid}`),
      "processes are named by rank",
    );
    assert.ok(
      file.traceEvents.some((e) => e.pid === pid && e.cat === "loader" && e.name === "make batch" && e.dur! > 0),
      `rank ${pid}'s loader worker made its batches`,
    );
  }
  assert.equal(file.otherData.ranks, 2);
  assert.match(file.otherData.note, /every op of the 2 profiled steps/);
});

test("--trace-max-mb: past the cap the shortest op events are dropped first, and the file and the output say so", {
  skip: skipIfMissing(missingFashionMnist()),
  timeout: 60_000,
}, () => {
  const trace = join(work, "capped.json");
  const r = turbine(["profile", ...mlp(16, 16), "--trace", trace, "--trace-max-mb", "0.005", "--set", "train.threads=1"]);
  assert.equal(r.code, 0, r.stderr);
  const text = readFileSync(trace, "utf8");
  const file = JSON.parse(text) as TraceFile & { otherData: { droppedUpToUs: number } };
  assert.ok(file.otherData.droppedOps > 0, "2 steps of the mlp make more than 5 kB of trace");
  assert.match(
    r.stdout,
    /trace: .*capped\.json \(\d+ events, .*\d+ op events of at most \d+ µs were dropped, shortest first, to keep the trace under 0\.005 MB/,
  );
  const kept = file.traceEvents.filter((e) => e.cat === "forward" || e.cat === "backward");
  assert.ok(kept.length > 0, "the longest ops are kept");
  assert.ok(
    kept.every((e) => e.dur! >= file.otherData.droppedUpToUs),
    "no kept op is shorter than a dropped one",
  );
  assert.ok(text.length <= 5_000 + 1000, `${text.length} bytes: the events under the cap, with the file's header`);
});

test("2 ranks on 2 network namespaces linked at 100 Mbit/s (mpi): the verdict is communication, with the all-reduce's blocked time as evidence", {
  skip: skipIfMissing(missingMpi() ?? missingFashionMnist()) || skipIfMissing(testbedUnavailable()),
  timeout: 180_000,
}, () => {
  const bed = createTestbed({ hosts: 2, rate: "100mbit" });
  try {
    const hostfile = join(work, "hosts");
    writeFileSync(hostfile, bed.addresses.map((a) => `${a} slots=1\n`).join(""));
    const env: Record<string, string> = { OMPI_MCA_hwloc_base_binding_policy: "none" };
    const args = bed.mpirunArgs();
    for (let i = 0; i < args.length; i++) if (args[i] === "--mca") env[`OMPI_MCA_${args[i + 1]}`] = args[i + 2]!;
    // 784·512 + 512·10 parameters: 1.6 MB of gradients per step, ~130 ms on the link; a step's compute at batch 16 is ~1 ms.
    const r = turbine(
      ["launch", "-n", "2", "--backend", "mpi", "--hostfile", hostfile, "--threads-per-worker", "1", "--", "profile", ...mlp(512, 16), "--json"],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
      ranks: number;
      shares: { communication: number };
      verdict: { bottleneck: string; lever: string };
    };
    assert.equal(report.ranks, 2);
    assert.equal(report.verdict.bottleneck, "communication", r.stdout);
    assert.ok(report.shares.communication >= 0.5, `communication ${report.shares.communication}`);
    assert.match(report.verdict.lever, /compression/);
  } finally {
    bed.destroy();
  }
});
