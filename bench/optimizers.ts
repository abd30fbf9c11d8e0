/**
 * Steps to quality: the gpt-char recipe (DESIGN.md §4's gpt workload: 4 blocks, width 256,
 * context 128, batch 32, warm-up 100 then cosine to 0.1) trained with AdamW as shipped and with
 * Muon (hidden matrices at --muon-lr / 1000, embeddings, biases and norms on its AdamW part at
 * the recipe's lr), the same schedule shape and seed, evaluated every --every steps. Reports
 * the first evaluated step at which the validation loss is ≤ --target / 100 (default 1.6) and
 * the ratio AdamW / Muon (issue 19's claim: ≥ 1.3), plus each curve (one JSON line per side
 * with --json). Step counts, not time, so a loaded machine changes only how long it takes.
 *
 *   npx tsc -p . && node dist/bench/optimizers.js [--threads N] [--steps N] [--every N] [--target 160] [--muon-lr 20] [--json]
 */
import { buildRun } from "../src/train/build.js";
import { parseConfig } from "../src/train/config_file.js";
import { Trainer } from "../src/train/trainer.js";
import { packageRoot } from "../src/package_root.js";
import { benchOptions, report } from "./harness.js";
import { workloadConfig } from "./workloads.js";

const { json, threads, ints } = benchOptions("optimizers", { steps: 1500, every: 25, target: 160, "muon-lr": 20 });
const target = ints.target / 100;

interface Curve {
  optimizer: string;
  curve: [step: number, loss: number][];
  seconds: number;
}

function train(optimizer: Record<string, unknown>): Curve {
  const raw = workloadConfig("gpt", packageRoot(), ints.steps);
  const config = parseConfig({ ...raw, optimizer, train: { ...(raw.train as object), evalEvery: ints.every } }, "optimizers bench");
  const parts = buildRun(config);
  const curve: [number, number][] = [];
  const started = performance.now();
  new Trainer({
    ...parts,
    clipGradNorm: config.train.clipGradNorm,
    evalEvery: ints.every,
    callbacks: [{ onEvalEnd: (e) => curve.push([e.step, e.loss]) }],
  }).fit({ steps: ints.steps });
  return { optimizer: String(optimizer.kind), curve, seconds: (performance.now() - started) / 1000 };
}

const recipe = workloadConfig("gpt", packageRoot(), ints.steps).optimizer as Record<string, unknown>;
const sides = [
  train(recipe),
  train({ kind: "muon", lr: ints["muon-lr"] / 1000, adamLr: recipe.lr, betas: recipe.betas, weightDecay: recipe.weightDecay, decayOn: recipe.decayOn }),
];
const stepsTo = (c: Curve): number | null => c.curve.find(([, loss]) => loss <= target)?.[0] ?? null;
const rows = sides.map((s) => ({
  optimizer: s.optimizer,
  threads,
  steps_to_target: stepsTo(s) ?? `not in ${ints.steps}`,
  final_loss: s.curve.at(-1)?.[1] ?? Number.NaN,
  seconds: s.seconds,
}));
report(
  rows,
  [
    ["optimizer", "optimizer"],
    ["threads", "threads"],
    ["steps_to_target", `steps to val loss ≤ ${target}`],
    ["final_loss", "final val loss"],
    ["seconds", "train s"],
  ],
  json,
);
const [adamw, muon] = sides.map(stepsTo);
const ratio = adamw && muon ? adamw / muon : null;
if (json) for (const s of sides) console.log(JSON.stringify({ optimizer: s.optimizer, curve: s.curve }));
else for (const s of sides) console.log(`${s.optimizer} curve: ${s.curve.map(([step, loss]) => `${step}:${loss.toFixed(3)}`).join(" ")}`);
const verdict = ratio === null ? "a side did not reach the target" : `AdamW needs ${ratio.toFixed(2)}× Muon's steps`;
console.log(json ? JSON.stringify({ config: "adamw / muon steps", ratio }) : `${verdict} (claim: ≥ 1.3)`);
