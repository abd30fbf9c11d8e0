/**
 * Two builds of turbine against each other on the reference workloads: this checkout and
 * another one (`--baseline DIR`, e.g. a `git worktree` of an earlier commit, built), each
 * workload run by each build's own `dist/bench/workload.js` in a fresh process, alternating
 * for --rounds rounds with the build that goes first alternating too. Prints each build's median
 * throughput and the ratio this / baseline with the range of the rounds' own ratios: the
 * before/after figure of a change that must not slow anything down.
 *
 *   node dist/bench/builds.js --baseline ../turbine-before --rounds 5 [--precision bf16] [--workloads mlp,gpt]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";

import { packageRoot } from "../src/package_root.js";
import { alternate, DEFAULT_STEPS, runJson } from "./compare.js";
import { median, report } from "./harness.js";
import { WORKLOADS, type WorkloadName } from "./workloads.js";

const { values } = parseArgs({
  options: {
    baseline: { type: "string" },
    workloads: { type: "string", default: WORKLOADS.join(",") },
    precision: { type: "string", default: "f32" },
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    warmup: { type: "string", default: "5" },
    json: { type: "boolean", default: false },
  },
});
if (!values.baseline) throw new Error("builds: --baseline DIR (a built checkout to compare with) is required");
const workloads = values.workloads.split(",") as WorkloadName[];
for (const w of workloads) if (!WORKLOADS.includes(w)) throw new Error(`builds: unknown workload ${w}; expected ${WORKLOADS.join(", ")}`);
const builds = { this: packageRoot(), baseline: values.baseline };

function run(root: string, workload: WorkloadName): number {
  const script = join(root, "dist", "bench", "workload.js");
  const args = [
    "--workload",
    workload,
    "--precision",
    values.precision,
    "--threads",
    values.threads,
    "--steps",
    String(DEFAULT_STEPS[workload]),
    "--warmup",
    values.warmup,
    "--json",
  ];
  return runJson(process.execPath, [script, ...args]).throughput;
}

const rows = workloads.map((workload) => {
  const speeds: Record<keyof typeof builds, number[]> = { this: [], baseline: [] };
  alternate(
    Number(values.rounds),
    (Object.keys(builds) as (keyof typeof builds)[]).map((build) => () => {
      speeds[build].push(run(builds[build], workload));
      process.stderr.write(`${workload} ${values.precision} ${build}: ${Math.round(speeds[build].at(-1)!)}\n`);
    }),
  );
  const ratios = speeds.this.map((v, r) => v / speeds.baseline[r]!);
  const ratio = median(speeds.this) / median(speeds.baseline);
  return {
    workload,
    precision: values.precision,
    this: Math.round(median(speeds.this)),
    baseline: Math.round(median(speeds.baseline)),
    ratio: `${ratio.toFixed(3)} (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`,
  };
});
report(
  rows,
  [
    ["workload", "workload"],
    ["precision", "precision"],
    ["this", "this build"],
    ["baseline", "baseline"],
    ["ratio", "this / baseline (range)"],
  ],
  values.json,
);
