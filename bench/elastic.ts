/**
 * Elastic restarts under SIGKILL (issue 16): `--runs` launches of `turbine launch --backend mpi
 * -n 2 --max-restarts 3` of a short mlp run, each with one rank killed by SIGKILL at a random
 * moment of the run (every fourth run: rank 0 while it writes a checkpoint). A run that has not
 * ended after 5× the uninterrupted run's time plus a minute counts as hung and is stopped. Prints
 * how many finished, failed and hung, and each finished run's final evaluation loss against the
 * uninterrupted run's (the world size is kept, so they should agree within 1e-4).
 *
 *   npx tsc -p . && node dist/bench/elastic.js [--runs 20] [--steps 300] [--json]
 *
 * About 20 s a run on a quiet machine (7 minutes for 20 runs); needs Open MPI and Fashion-MNIST.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { packageRoot } from "../src/package_root.js";
import { rankProcess, writingCheckpoint } from "../test/helpers/elastic.js";
import { benchOptions, now } from "./harness.js";

const { json, ints } = benchOptions("elastic", { runs: 20, steps: 300 });
const { runs, steps } = ints;
const cli = join(packageRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-bench-elastic-"));

const job = (out: string): string[] => [
  ..."launch --backend mpi -n 2 --threads-per-worker 1 --max-restarts 3 -- train".split(" "),
  ...["--set", "model.kind=mlp", "--set", "model.hidden=[256]", "--set", `train.steps=${steps}`, "--set", "checkpoint.every=20"],
  ...["--set", "data.evalBatchSize=5000", "--set", `outDir=${out}`, "--no-progress", "--json"],
];

interface Outcome {
  run: number;
  kill: string;
  status: "finished" | "failed" | "hung";
  seconds: number;
  restarts: number | null;
  loss: number | null;
}

/** One launch; `kill` picks the moment and rank of the SIGKILL (none for the reference run). */
function launch(out: string, limitS: number, kill?: { rank: number; at: (elapsedS: number) => boolean }): Promise<Omit<Outcome, "run" | "kill">> {
  const start = now();
  const proc = spawn(process.execPath, [cli, ...job(out)], { cwd: work, stdio: ["ignore", "pipe", "ignore"] });
  let stdout = "";
  proc.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  let killed = kill === undefined;
  let hung = false;
  const poll = setInterval(() => {
    const elapsed = now() - start;
    if (elapsed > limitS) {
      hung = true;
      proc.kill("SIGKILL");
    }
    if (killed || !kill!.at(elapsed)) return;
    const pid = rankProcess(kill!.rank, out);
    if (pid !== null) {
      process.kill(pid, "SIGKILL");
      killed = true;
    }
  }, 1);
  return new Promise((resolve) =>
    proc.on("close", (code) => {
      clearInterval(poll);
      const seconds = now() - start;
      if (hung) return resolve({ status: "hung", seconds, restarts: null, loss: null });
      if (code !== 0) return resolve({ status: "failed", seconds, restarts: null, loss: null });
      const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as { eval: { loss: number }; elastic: { restarts: number } };
      resolve({ status: "finished", seconds, restarts: summary.elastic.restarts, loss: summary.eval.loss });
    }),
  );
}

const reference = await launch(join(work, "reference"), 600);
if (reference.status !== "finished") throw new Error(`elastic: the uninterrupted run ${reference.status}`);
const limitS = 5 * reference.seconds + 60;
const outcomes: Outcome[] = [];
for (let run = 0; run < runs; run++) {
  const out = join(work, `run-${run}`);
  const duringWrite = run % 4 === 3;
  const moment = (0.1 + 0.8 * Math.random()) * reference.seconds;
  const rank = duringWrite ? 0 : Math.floor(Math.random() * 2);
  const kill = duringWrite ? `rank 0 during a checkpoint write` : `rank ${rank} at ${moment.toFixed(1)} s`;
  const result = await launch(out, limitS, { rank, at: duringWrite ? () => writingCheckpoint(join(out, "mlp", "version_0")) : (elapsed) => elapsed >= moment });
  outcomes.push({ run, kill, ...result });
  if (!json) {
    const diff = result.loss === null ? "" : `, loss ${result.loss.toFixed(6)} (${(result.loss - reference.loss!).toExponential(1)})`;
    process.stdout.write(`run ${run}: ${kill}: ${result.status} in ${result.seconds.toFixed(1)} s, ${result.restarts ?? "?"} restarts${diff}\n`);
  }
  rmSync(out, { recursive: true, force: true });
}
rmSync(work, { recursive: true, force: true });

const count = (status: Outcome["status"]): number => outcomes.filter((o) => o.status === status).length;
const diffs = outcomes.filter((o) => o.loss !== null).map((o) => Math.abs(o.loss! - reference.loss!));
const maxDiff = diffs.length === 0 ? null : Math.max(...diffs);
if (json) {
  process.stdout.write(
    `${JSON.stringify({ reference: { seconds: reference.seconds, loss: reference.loss }, finished: count("finished"), failed: count("failed"), hung: count("hung"), max_loss_diff: maxDiff, runs: outcomes })}\n`,
  );
} else {
  process.stdout.write(
    `uninterrupted: ${reference.seconds.toFixed(1)} s, loss ${reference.loss!.toFixed(6)}\n` +
      `${runs} runs with one SIGKILL each: ${count("finished")} finished, ${count("failed")} failed, ${count("hung")} hung; ` +
      `largest final-loss difference ${maxDiff === null ? "n/a" : maxDiff.toExponential(2)} (bound 1e-4)\n`,
  );
}
