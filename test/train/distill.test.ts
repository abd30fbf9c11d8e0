import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { mlp } from "../../src/models/mlp.js";
import { randint, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import { distillation, softTargetKL } from "../../src/train/distill.js";
import { classification } from "../../src/train/task.js";
import { repoRoot } from "../helpers/paths.js";
import { TINY_GPT_CHAR } from "../helpers/tiny_gpt.js";
import { missingFashionMnist, skipIfMissing } from "../helpers/prerequisites.js";

/** Softmax of a row in float64. */
const softmax64 = (row: number[]): number[] => {
  const top = Math.max(...row);
  const e = row.map((v) => Math.exp(v - top));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
};

test("softTargetKL is KL(teacher ‖ student) of the softened rows, averaged over rows, and its gradient is (q − p) / (T · rows)", () => {
  tidy(() => {
    const [rows, classes, t] = [6, 5, 2.5];
    const s = randn([2, 3, classes]),
      teacher = randn([2, 3, classes]);
    s.requiresGrad = true;
    const kl = softTargetKL(s, teacher, t);
    kl.backward();
    const sv = s.toArray() as number[],
      tv = teacher.toArray() as number[];
    let expected = 0;
    const grad: number[] = [];
    for (let r = 0; r < rows; r++) {
      const q = softmax64(sv.slice(r * classes, (r + 1) * classes).map((v) => v / t));
      const p = softmax64(tv.slice(r * classes, (r + 1) * classes).map((v) => v / t));
      for (let c = 0; c < classes; c++) {
        expected += (p[c]! * Math.log(p[c]! / q[c]!)) / rows;
        grad.push((q[c]! - p[c]!) / (t * rows));
      }
    }
    // float32 softmax and sums over 30 terms: a few ulps of values of order 0.1.
    assert.ok(Math.abs(kl.item() - expected) < 1e-6, `${kl.item()} vs ${expected}`);
    const g = s.grad!.toArray() as number[];
    for (let i = 0; i < g.length; i++) assert.ok(Math.abs(g[i]! - grad[i]!) < 1e-7, `gradient ${i}: ${g[i]} vs ${grad[i]}`);
    assert.equal(teacher.grad, null);
  });
});

test("softTargetKL refuses a teacher whose outputs differ in shape, naming both", () => {
  tidy(() => assert.throws(() => softTargetKL(randn([4, 10]), randn([4, 12]), 1), /teacher's outputs \[4, 12\] differ from the student's \[4, 10\]/));
});

test("distillation mixes alpha · T² · KL with (1 − alpha) · the label loss; the teacher gets no gradient", () => {
  tidy(() => {
    const student = mlp({ inputs: 8, hidden: [16], classes: 4 }),
      teacher = mlp({ inputs: 8, hidden: [32], classes: 4 });
    const batch = { x: randn([5, 8]), y: randint(0, 4, [5]) };
    const plain = classification().loss(student, batch).item();
    const kl = softTargetKL(student.forward(batch.x), teacher.forward(batch.x), 3).item();
    for (const alpha of [0, 0.3, 1]) {
      const mixed = distillation(classification(), teacher, { temperature: 3, alpha }).loss(student, batch);
      const expected = alpha * 9 * kl + (1 - alpha) * plain;
      assert.ok(Math.abs(mixed.item() - expected) < 1e-5 * Math.max(1, expected), `alpha ${alpha}: ${mixed.item()} vs ${expected}`);
      mixed.backward();
    }
    assert.ok(student.parameters().every((p) => p.grad !== null));
    assert.ok(teacher.parameters().every((p) => p.grad === null));
  });
});

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-distill-"));
after(() => rmSync(work, { recursive: true, force: true }));
const turbine = (args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args, "--no-progress"], { cwd: work, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stderr: r.stderr, stdout: r.stdout };
};
const small = (name: string, hidden: number) => [
  "train",
  "mlp",
  "--set",
  `name=${name}`,
  "--set",
  `outDir=${join(work, "runs")}`,
  "--set",
  `model.hidden=[${hidden}]`,
  "--set",
  "train.steps=20",
  "--set",
  "checkpoint.every=20",
];

test("turbine train with distill.teacher: a student learns from a trained run; a missing teacher, or a gpt teacher of a shorter context, is exit 2 naming distill.teacher", {
  skip: skipIfMissing(missingFashionMnist()),
  timeout: 120_000,
}, () => {
  const teacher = turbine(small("teacher", 64));
  assert.equal(teacher.code, 0, teacher.stderr);
  const student = turbine([
    ...small("student", 16),
    "--set",
    `distill.teacher=${join(work, "runs", "teacher", "version_0")}`,
    "--set",
    "distill.alpha=0.7",
    "--json",
  ]);
  assert.equal(student.code, 0, student.stderr);
  const summary = JSON.parse(student.stdout.trim().split("\n").at(-1)!) as { steps: number; eval: { loss: number } };
  assert.equal(summary.steps, 20);
  assert.ok(Number.isFinite(summary.eval.loss));
  const missing = turbine([...small("lost", 16), "--set", `distill.teacher=${join(work, "nowhere")}`]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /distill\.teacher .*nowhere/);
  assert.doesNotMatch(missing.stderr, /\n\s+at /);
  // A gpt teacher reads the student's windows: one trained on 16 tokens cannot teach on 32.
  const gpt = (name: string, extra: string[]) =>
    turbine(["train", "gpt-char", ...TINY_GPT_CHAR, "--set", `name=${name}`, "--set", `outDir=${join(work, "runs")}`, ...extra]);
  assert.equal(gpt("short", []).code, 0);
  const longer = gpt("long", ["--set", "model.context=32", "--set", `distill.teacher=${join(work, "runs", "short", "version_0")}`]);
  assert.equal(longer.code, 2, longer.stderr);
  assert.match(longer.stderr, /distill\.teacher .* reads at most 16 tokens, but this run's windows are model\.context 32/);
  assert.doesNotMatch(longer.stderr, /\n\s+at /);
});
