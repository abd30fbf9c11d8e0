import assert from "node:assert/strict";
import { test } from "node:test";

import { bf16FromNumber, bf16ToNumber } from "../../src/backends/js/bf16.js";
import { Rng } from "../../src/data/random.js";
import type { CompressionSpec } from "../../src/parallel/compression/index.js";
import { fillNormal } from "../../src/parallel/compression/low_rank.js";
import { startThreads } from "../../src/parallel/threads/spawn.js";
import { type CompressionArgs, type HookRun, knownGradient, type TrainRun } from "./compression_rank.js";

async function onTwoRanks<T>(args: CompressionArgs): Promise<T[][]> {
  const job = startThreads({ size: 2, module: new URL("./compression_rank.js", import.meta.url), args, onLine: () => {}, threadsPerWorker: 1 });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as T[];
  });
}

const spec = (kind: CompressionSpec["kind"], more: Partial<CompressionSpec> = {}): CompressionSpec => ({ kind, ratio: 0.01, rank: 4, ...more });
const sizeOf = (shapes: number[][]): number => shapes.reduce((n, s) => n + s.reduce((a, d) => a * d, 1), 0);
const f = Math.fround;

function assertNear(actual: number[], expected: number[], what: string, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= rtol * Math.max(Math.abs(e), 1e-2), `${what}[${i}]: got ${a}, expected ${e}`);
  });
}

function maxDifference(a: number[], b: number[]): number {
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
}

/** Each rank's gradients at each step of the hand references (as the rank module makes them). */
const gradients = (size: number, steps: number): Float32Array[][] =>
  Array.from({ length: steps }, (_, step) => [0, 1].map((rank) => knownGradient(size, rank, step)));

function topkReference(size: number, steps: number, ratio: number, errorFeedback: boolean): number[][] {
  return topkOf(gradients(size, steps), size, ratio, errorFeedback);
}

function topkOf(perStep: Float32Array[][], size: number, ratio: number, errorFeedback = true): number[][] {
  const k = Math.ceil(ratio * size),
    residuals = [0, 1].map(() => new Array<number>(size).fill(0));
  return perStep.map((perRank) => {
    const out = new Array<number>(size).fill(0);
    perRank.forEach((g, r) => {
      const acc = Array.from(g, (x, i) => f(residuals[r]![i]! + x));
      const order = acc.map((_, i) => i).sort((a, b) => Math.abs(acc[b]!) - Math.abs(acc[a]!) || a - b);
      const sent = new Set(order.slice(0, k));
      for (const i of sent) out[i]! += acc[i]! / 2;
      residuals[r] = errorFeedback ? acc.map((x, i) => (sent.has(i) ? 0 : x)) : new Array<number>(size).fill(0);
    });
    return out;
  });
}

function onebitReference(size: number, steps: number, errorFeedback: boolean): number[][] {
  return onebitOf(gradients(size, steps), size, errorFeedback);
}

function onebitOf(perStep: Float32Array[][], size: number, errorFeedback = true): number[][] {
  const residuals = [0, 1].map(() => new Array<number>(size).fill(0));
  return perStep.map((perRank) => {
    const out = new Array<number>(size).fill(0);
    perRank.forEach((g, r) => {
      const acc = Array.from(g, (x, i) => f(residuals[r]![i]! + x));
      const scale = f(Math.sqrt(acc.reduce((s, x) => s + x * x, 0) / size));
      const decompressed = acc.map((x) => (x >= 0 ? scale : -scale));
      decompressed.forEach((d, i) => {
        out[i]! += d / 2;
      });
      residuals[r] = errorFeedback ? acc.map((x, i) => x - decompressed[i]!) : new Array<number>(size).fill(0);
    });
    return out;
  });
}

/** Matrices as arrays of rows, for the PowerSGD reference. */
type Matrix = number[][];
const transpose = (a: Matrix): Matrix => a[0]!.map((_, j) => a.map((row) => row[j]!));
const matmul = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
const average = (a: Matrix, b: Matrix): Matrix => a.map((row, i) => row.map((x, j) => (x + b[i]![j]!) / 2));
function gramSchmidt(a: Matrix): Matrix {
  const columns: number[][] = [];
  for (const column of transpose(a)) {
    let v = column;
    for (const u of columns) {
      const dot = v.reduce((s, x, i) => s + x * u[i]!, 0);
      v = v.map((x, i) => x - dot * u[i]!);
    }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    columns.push(v.map((x) => x / norm));
  }
  return transpose(columns);
}

/** PowerSGD on one bucket of a 6×5 matrix (factored at rank 2), a bias [5] and a 4×3 matrix (both too small to factor). */
function powerSgdReference(steps: number, options: { errorFeedback: boolean; warmStart: boolean }): number[][] {
  const [n, m, r] = [6, 5, 2];
  const initialQ = (): Matrix => {
    const flat = new Float32Array(m * r);
    fillNormal(flat, 0, m * r, Rng.seeded(0, 0));
    return gramSchmidt(Array.from({ length: m }, (_, i) => Array.from(flat.subarray(i * r, (i + 1) * r))));
  };
  let q = initialQ();
  const residuals = [0, 1].map(() => new Array<number>(n * m).fill(0));
  return gradients(n * m + 5 + 12, steps).map((perRank) => {
    if (!options.warmStart) q = initialQ();
    const ms = perRank.map((g, rank) =>
      Array.from({ length: n }, (_, i) => Array.from({ length: m }, (_, j) => f(residuals[rank]![i * m + j]! + g[i * m + j]!))),
    );
    const p = gramSchmidt(average(matmul(ms[0]!, q), matmul(ms[1]!, q)));
    q = average(matmul(transpose(ms[0]!), p), matmul(transpose(ms[1]!), p));
    const approx = matmul(p, transpose(q)).flat();
    ms.forEach((mr, rank) => {
      residuals[rank] = options.errorFeedback ? mr.flat().map((x, i) => x - approx[i]!) : new Array<number>(n * m).fill(0);
    });
    const whole = Array.from({ length: 17 }, (_, i) => (perRank[0]![n * m + i]! + perRank[1]![n * m + i]!) / 2);
    return [...approx, ...whole];
  });
}

test("compression hooks on 2 ranks equal hand-computed references over 3 steps, error feedback (and PowerSGD's warm start) included", {
  timeout: 60_000,
}, async () => {
  // A hook that skips error feedback, or restarts PowerSGD's Q every step, fails from step 2: the
  // references without them are asserted to differ by far more than the tolerance.
  const shapes = [[6, 5], [5], [4, 3]],
    size = sizeOf(shapes),
    steps = 3;
  const specs = [spec("bf16"), spec("topk", { ratio: 0.2 }), spec("onebit"), spec("powersgd", { rank: 2 })];
  const ranks = await onTwoRanks<HookRun>({ mode: "hooks", specs, shapes, steps });
  const [bf16, topk, onebit, powersgd] = ranks[0]!;
  for (const [i, run] of ranks[0]!.entries()) assert.deepEqual(ranks[1]![i]!.outputs, run.outputs, `${specs[i]!.kind}: both ranks hold the same average`);

  gradients(size, steps).forEach(([g0, g1], step) => {
    const expected = Array.from(g0!, (x, i) => bf16ToNumber(bf16FromNumber((bf16ToNumber(bf16FromNumber(x)) + bf16ToNumber(bf16FromNumber(g1![i]!))) / 2)));
    assertNear(bf16!.outputs[step]!, expected, `bf16 step ${step}`, 2 ** -7);
    for (const v of bf16!.outputs[step]!) assert.equal(bf16ToNumber(bf16FromNumber(v)), v, `bf16: ${v} went over the wire at bfloat16 precision`);
  });

  const checks: [string, HookRun, number[][], number[][]][] = [
    ["topk", topk!, topkReference(size, steps, 0.2, true), topkReference(size, steps, 0.2, false)],
    ["onebit", onebit!, onebitReference(size, steps, true), onebitReference(size, steps, false)],
    [
      "powersgd",
      powersgd!,
      powerSgdReference(steps, { errorFeedback: true, warmStart: true }),
      powerSgdReference(steps, { errorFeedback: false, warmStart: true }),
    ],
  ];
  for (const [kind, run, reference, withoutFeedback] of checks)
    for (let step = 0; step < steps; step++) {
      assertNear(run.outputs[step]!, reference[step]!, `${kind} step ${step}`);
      if (step > 0) assert.ok(maxDifference(reference[step]!, withoutFeedback[step]!) > 0.05, `${kind} step ${step}: error feedback changes the result`);
    }
  const cold = powerSgdReference(steps, { errorFeedback: true, warmStart: false });
  assert.ok(maxDifference(cold[1]!, powerSgdReference(steps, { errorFeedback: true, warmStart: true })[1]!) > 0.05, "warm start changes the result");
});

test("an overflow (inf) on one rank reaches every rank whole and leaves the residuals alone: the steps after it equal a run without that step", {
  timeout: 60_000,
}, async () => {
  // Fed into the residual, the inf would make every later step inf or NaN (a loss scale halving
  // forever); a rank deciding alone to send the bucket whole would mismatch its peer's collectives.
  const shapes = [[6, 5], [5], [4, 3]],
    size = sizeOf(shapes);
  const specs = [spec("topk", { ratio: 0.2 }), spec("onebit"), spec("powersgd", { rank: 2 })];
  const [ranks0, ranks1] = await onTwoRanks<HookRun>({ mode: "hooks", specs, shapes, steps: 3, overflowAt: 1 });
  const references = [topkReference(size, 3, 0.2, true), onebitReference(size, 3, true), powerSgdReference(3, { errorFeedback: true, warmStart: true })];
  specs.forEach((s, i) => {
    for (const run of [ranks0![i]!, ranks1![i]!]) {
      assert.equal(run.outputs[1]![0], Number.POSITIVE_INFINITY, `${s.kind}: the overflow reaches every rank`);
      assert.equal(run.bytes[1], 4 + 4 * size, `${s.kind}: the overflowed bucket goes whole`);
      assertNear(run.outputs[0]!, references[i]![0]!, `${s.kind} step 0`);
    }
  });
  // Step 2 after the skipped step 1 is the references' step 1 with step 2's gradients, for topk
  // and onebit (no state but the residual): recompute it with the residual of step 0 only.
  const skip = (reference: (g: Float32Array[][]) => number[][]): number[] => reference(gradients(size, 3).filter((_, step) => step !== 1))[1]!;
  assertNear(
    ranks0![0]!.outputs[2]!,
    skip((g) => topkOf(g, size, 0.2)),
    "topk step 2 after the overflow",
  );
  assertNear(
    ranks0![1]!.outputs[2]!,
    skip((g) => onebitOf(g, size)),
    "onebit step 2 after the overflow",
  );
  for (const v of ranks0![2]!.outputs[2]!) assert.ok(Number.isFinite(v), "powersgd recovers after the overflow");
});

test("bytes sent per step against the plain all-reduce: bf16 2×, topk ≥ 20× at ratio 0.01, powersgd rank 4 ≥ 30×, onebit ≥ 25× on a 512×512 layer", {
  timeout: 60_000,
}, async () => {
  const shapes = [[512, 512], [512]],
    plain = 4 * sizeOf(shapes);
  const specs = [spec("bf16"), spec("topk"), spec("powersgd"), spec("onebit")];
  const [runs] = await onTwoRanks<HookRun>({ mode: "hooks", specs, shapes, steps: 1 });
  const ratios = Object.fromEntries(runs!.map((run, i) => [specs[i]!.kind, plain / run.bytes[0]!]));
  assert.equal(ratios.bf16, 2);
  assert.ok(ratios.topk! >= 20, `topk: ${ratios.topk}×`);
  assert.ok(ratios.powersgd! >= 30, `powersgd: ${ratios.powersgd}×`);
  assert.ok(ratios.onebit! >= 25, `onebit: ${ratios.onebit}×`);
});

test("DDP trains an MLP on 2 ranks with each compressor (the loss goes down) and counts the bytes it sends", { timeout: 120_000 }, async () => {
  const specs = [spec("none"), spec("bf16"), spec("topk", { ratio: 0.05 }), spec("powersgd", { rank: 2 }), spec("onebit")];
  const steps = 40;
  const [runs] = await onTwoRanks<TrainRun>({ mode: "train", specs, steps });
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const [i, run] of runs!.entries()) {
    const [first, last] = [mean(run.losses.slice(0, 5)), mean(run.losses.slice(-5))];
    assert.ok(last < 0.8 * first, `${specs[i]!.kind}: loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
  }
  // The mlp 20→48→32→5 has 2,741 parameters: DDP without compression sends all of them each step.
  assert.equal(runs![0]!.commBytes, 4 * 2741 * steps);
  for (const run of runs!.slice(2)) assert.ok(run.commBytes < runs![0]!.commBytes / 3, `compressed: ${run.commBytes} bytes`);
  assert.equal(runs![1]!.commBytes, runs![0]!.commBytes / 2);
});

test("a hook's warm-up (parallel.compression.warmupSteps): plain all-reduces for that many optimizer steps, then the compressor, counted from the optimizer's state across a resume", {
  timeout: 120_000,
}, async () => {
  const steps = 6,
    warmupSteps = 3;
  const specs = [spec("none"), spec("topk", { ratio: 0.05 }), spec("topk", { ratio: 0.05, warmupSteps })];
  const [plain, topk, warm] = (await onTwoRanks<TrainRun>({ mode: "train", specs, steps }))[0]!;
  // The loss of step s is taken before step s's update: steps 0-2 averaged whole give losses 0-3 bit for bit.
  assert.deepEqual(warm!.losses.slice(0, warmupSteps + 1), plain!.losses.slice(0, warmupSteps + 1));
  assert.notEqual(warm!.losses[warmupSteps + 1], plain!.losses[warmupSteps + 1], "step 3 compressed: it differs from the plain all-reduce");
  // Three plain steps' bytes and three of top-k's (the same every step: k entries and the overflow flag).
  assert.equal(warm!.commBytes, (warmupSteps * plain!.commBytes) / steps + ((steps - warmupSteps) * topk!.commBytes) / steps);
  // Resumed where the warm-up ends (no residual yet, so nothing lost): a DDP that counted its own
  // steps instead of the optimizer's would average step 3 whole again and differ from loss 4 on.
  const [resumed] = (await onTwoRanks<TrainRun>({ mode: "train", specs: [specs[2]!], steps, resumeAt: warmupSteps }))[0]!;
  assert.deepEqual(resumed!.losses, warm!.losses);
  assert.equal(resumed!.commBytes, warm!.commBytes);
});
