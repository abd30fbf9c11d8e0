import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { type ElasticJob, runElastic } from "../../src/cli/elastic.js";
import { startThreadsJob } from "../../src/cli/launch_jobs.js";
import { newRunFolder } from "../../src/train/run_folder.js";
import { writingCheckpoint } from "../helpers/elastic.js";
import { repoRoot } from "../helpers/paths.js";
import { missingFashionMnist, skipIfMissing } from "../helpers/prerequisites.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-elastic-"));
after(() => rmSync(work, { recursive: true, force: true }));
const skip = skipIfMissing(missingFashionMnist());

const STEPS = 12;
/** A 12-step mlp on 2 ranks with a checkpoint every 3 steps and a metrics line every step. */
const SMALL = [
  "--set",
  "model.kind=mlp",
  "--set",
  "model.hidden=[16]",
  "--set",
  "data.batchSize=16",
  "--set",
  `train.steps=${STEPS}`,
  "--set",
  "train.logEvery=1",
  "--set",
  "checkpoint.every=3",
  "--set",
  "data.evalBatchSize=5000",
  "--no-progress",
];

interface Record_ {
  type: string;
  step: number;
  loss: number;
  ranks?: number;
  lost_steps?: number;
  reason?: string | null;
  change?: string | null;
}

const records = (runDir: string): Record_[] =>
  readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record_);

/** True once rank 0 has logged `step` (the metrics file, which each step appends to). */
const reached = (runDir: string, step: number) => () => records(runDir).some((r) => r.type === "train" && r.step >= step);

/**
 * Runs the small job elastically on the threads backend, in this process, as `turbine launch -n 2
 * --max-restarts 3` does; `kill` ends one rank's worker (as a crash would) the first time `when`
 * holds; `capacity` is how many ranks each restart may use.
 */
async function elasticRun(
  name: string,
  kill?: { rank: number; when: (runDir: string) => () => boolean; everySegment?: boolean },
  capacity = 2,
  maxRestarts = 3,
) {
  const out = join(work, name);
  const runDir = newRunFolder(join(out, "mlp"));
  const logs: string[] = [];
  const printed: string[] = [];
  let killed = false;
  const job: ElasticJob = {
    size: 2,
    runDir,
    layout: { ranks: 2, batchSize: 16, accumulate: 1 },
    replica: 1,
    start: (ranks, env, onJsonLine) => {
      const running = startThreadsJob(ranks, { argv: ["train", ...SMALL, "--json", "--set", `outDir=${out}`], env, threads: 1, timeoutS: 60, onJsonLine });
      if (kill && (!killed || kill.everySegment)) {
        const when = kill.when(runDir);
        const poll = setInterval(() => {
          if (!when()) return;
          killed = true;
          clearInterval(poll);
          void running.workers![kill.rank]!.terminate();
        }, 1);
        void running.done.finally(() => clearInterval(poll));
      }
      return running;
    },
    capacity: async () => capacity,
    log: (line) => logs.push(line),
    print: (line) => printed.push(line),
  };
  const code = await runElastic(job, { maxRestarts, minRanks: 1 });
  return { code, runDir, logs, printed, killed };
}

const finalLoss = (runDir: string): { train: number; eval: number } => {
  const all = records(runDir).reverse();
  return { train: all.find((r) => r.type === "train" && r.step === STEPS)!.loss, eval: all.find((r) => r.type === "eval")!.loss };
};

test("threads: a rank ended at a random step restarts from the newest checkpoint and ends with the uninterrupted run's loss", {
  skip,
  timeout: 300_000,
}, async () => {
  const plain = await elasticRun("plain");
  assert.equal(plain.code, 0, plain.logs.join("\n"));
  // Between the first checkpoint's step and the end, so that both a resume and lost steps happen.
  const at = 4 + Math.floor(Math.random() * (STEPS - 5));
  const crashed = await elasticRun("crashed", { rank: 1, when: (dir) => reached(dir, at) });
  assert.equal(crashed.code, 0, crashed.logs.join("\n"));
  assert.ok(crashed.killed, `rank 1 was never ended (step ${at})`);
  const segments = records(crashed.runDir).filter((r) => r.type === "segment");
  assert.equal(segments.length, 2, `killed at step ${at}: ${JSON.stringify(segments)}`);
  assert.equal(segments[1]!.ranks, 2);
  assert.match(segments[1]!.reason!, /^rank 1: /);
  // Resumed from a multiple of checkpoint.every, at most 3 steps back (and the rank may have logged one more step before it ended).
  assert.equal(segments[1]!.step % 3, 0);
  assert.ok(segments[1]!.step >= at - 3, `resumed at ${segments[1]!.step}, killed at ${at}`);
  // Each step appears once in the metrics: the lost ones were dropped before they were trained again.
  const steps = records(crashed.runDir)
    .filter((r) => r.type === "train")
    .map((r) => r.step);
  assert.deepEqual(
    steps,
    Array.from({ length: STEPS }, (_, i) => i + 1),
  );
  const [a, b] = [finalLoss(plain.runDir), finalLoss(crashed.runDir)];
  assert.ok(Math.abs(a.train - b.train) <= 1e-4, `train loss ${b.train} vs ${a.train} (killed at step ${at})`);
  assert.ok(Math.abs(a.eval - b.eval) <= 1e-4, `eval loss ${b.eval} vs ${a.eval} (killed at step ${at})`);
  const summary = JSON.parse(crashed.printed.at(-1)!) as { elastic: { restarts: number; lost_steps: number; segments: unknown[] } };
  assert.equal(summary.elastic.restarts, 1);
  assert.equal(summary.elastic.segments.length, 2);
  assert.match(crashed.printed[0]!, /^elastic: 1 restart, \d+ steps? lost; segments: 2 ranks steps 0–\d+ \(rank 1: .*\), 2 ranks steps \d+–12$/);

  // Rank 0 ended while it writes a checkpoint: the half-written one is never resumed from.
  const midWrite = await elasticRun("mid-write", { rank: 0, when: (dir) => () => writingCheckpoint(dir) });
  assert.equal(midWrite.code, 0, midWrite.logs.join("\n"));
  assert.ok(midWrite.killed);
  const c = finalLoss(midWrite.runDir);
  assert.ok(Math.abs(a.eval - c.eval) <= 1e-4, `eval loss ${c.eval} vs ${a.eval} after a kill during a checkpoint write`);
});

test("threads: a restart on fewer ranks keeps the global batch by accumulation and says so", { skip, timeout: 300_000 }, async () => {
  const shrunk = await elasticRun("shrunk", { rank: 1, when: (dir) => reached(dir, 4) }, 1);
  assert.equal(shrunk.code, 0, shrunk.logs.join("\n"));
  const segment = records(shrunk.runDir).filter((r) => r.type === "segment")[1]!;
  assert.equal(segment.ranks, 1);
  assert.equal(segment.change, "data-parallel ranks 2 → 1: train.accumulate 1 → 2 keeps the global batch of 32");
  const config = JSON.parse(readFileSync(join(shrunk.runDir, "config.json"), "utf8")) as { train: { accumulate: number } };
  assert.equal(config.train.accumulate, 2);
  assert.ok(shrunk.logs.some((l) => /restart 1 of 3 on 1 rank from /.test(l)));
});

test("threads: when the restarts are used up the launch fails with exit 1 naming the last failure", { skip, timeout: 300_000 }, async () => {
  const failing = await elasticRun("failing", { rank: 1, when: (dir) => reached(dir, 1), everySegment: true }, 2, 1);
  assert.equal(failing.code, 1);
  assert.match(failing.logs.at(-1)!, /^turbine: launch: the job failed and its restarts are used up \(--max-restarts 1\); last failure: rank 1: /);
  assert.equal(records(failing.runDir).filter((r) => r.type === "segment").length, 2);
});

test("turbine launch --max-restarts: bad values and a command that is not train exit 2", () => {
  const run = (args: string[]) => spawnSync(process.execPath, [cli, "launch", ...args], { cwd: work, encoding: "utf8", timeout: 60_000 });
  const cases: [string[], RegExp][] = [
    [["-n", "2", "--max-restarts", "-1", "--", "train"], /launch: --max-restarts must be a non-negative integer, got "-1"/],
    [["-n", "2", "--max-restarts", "two", "--", "train"], /launch: --max-restarts must be a non-negative integer, got "two"/],
    [["-n", "2", "--max-restarts", "1", "--min-ranks", "3", "--", "train"], /launch: --min-ranks 3 is more than the job's 2 ranks/],
    [["-n", "2", "--min-ranks", "1", "--", "train"], /launch: --min-ranks needs --max-restarts/],
    [["-n", "2", "--max-restarts", "1", "--", "train", "--list"], /launch: --max-restarts restarts a train run, got "train --list"/],
  ];
  for (const [args, message] of cases) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length <= 2, true, r.stderr);
  }
});
