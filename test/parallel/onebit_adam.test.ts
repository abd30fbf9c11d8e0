import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { knownVector, type OneBitArgs, type TrainRun } from "./frozen_variance_rank.js";

async function onTwoRanks<T>(args: OneBitArgs): Promise<T[]> {
  const job = startThreads({ size: 2, module: new URL("./frozen_variance_rank.js", import.meta.url), args, onLine: () => {}, threadsPerWorker: 1 });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as T;
  });
}

const f = Math.fround;
const sign = (x: number): number => (x >= 0 ? 1 : -1);

/** The scales of `values` (from element `from` of the whole vector) per segment: ‖piece‖/√length, 0 for an empty piece. */
function scalesOf(values: number[], from: number, starts: number[], size: number): number[] {
  return starts.map((start, k) => {
    const piece = values.slice(Math.max(0, start - from), Math.max(0, (starts[k + 1] ?? size) - from));
    return piece.length === 0 ? 0 : f(Math.sqrt(piece.reduce((s, x) => s + x * x, 0) / piece.length));
  });
}

/** DeepSpeed's compressed all-reduce on 2 ranks by hand, a scale per segment, with or without the server's error feedback. */
function compressedReference(size: number, starts: number[], steps: number, serverFeedback: boolean): number[][] {
  const chunk = 32 * Math.ceil(Math.ceil(size / 32) / 2),
    segment = (i: number): number => starts.filter((s) => s <= i).length - 1,
    workerErrors = [0, 1].map(() => new Array<number>(size).fill(0)),
    serverErrors = [0, 1].map(() => new Array<number>(chunk).fill(0));
  return Array.from({ length: steps }, (_, step) => {
    const decompressed = [0, 1].map((rank) => {
      const buffer = Array.from(knownVector(size, rank, step), (v, i) => f(v + workerErrors[rank]![i]!));
      const scales = scalesOf(buffer, 0, starts, size);
      workerErrors[rank] = buffer.map((x, i) => f(x - sign(x) * scales[segment(i)]!));
      return buffer.map((x, i) => sign(x) * scales[segment(i)]!);
    });
    const out = new Array<number>(size).fill(0);
    for (let server = 0; server < 2; server++) {
      const from = server * chunk,
        to = Math.min(size, from + chunk);
      const averaged = Array.from({ length: to - from }, (_, j) =>
        f((decompressed[0]![from + j]! + decompressed[1]![from + j]!) / 2 + serverErrors[server]![j]!),
      );
      const scales = scalesOf(averaged, from, starts, size);
      averaged.forEach((x, j) => {
        const scale = scales[segment(from + j)]!;
        out[from + j] = sign(x) * scale;
        if (serverFeedback) serverErrors[server]![j] = f(x - sign(x) * scale);
      });
    }
    return out;
  });
}

test("1-bit Adam's compressed all-reduce on 2 ranks equals DeepSpeed's by hand, with error feedback on worker and server side, a scale per tensor, at n/8 + 8 bytes per tensor", {
  timeout: 60_000,
}, async () => {
  // 77 elements in segments of 30, 5 and 42 (tensors): 3 sign words, split 2 + 1 between the
  // servers, the last chunk partly padding, the last segment served by both. Dropping the server
  // error, one scale for all segments, or a scale over the padding fails.
  const size = 77,
    starts = [0, 30, 35],
    steps = 4;
  const [rank0, rank1] = await onTwoRanks<{ outputs: number[][]; bytes: number[] }>({ mode: "allreduce", size, starts, steps });
  assert.deepEqual(rank1!.outputs, rank0!.outputs, "both ranks hold the same average");
  const reference = compressedReference(size, starts, steps, true),
    withoutServerFeedback = compressedReference(size, starts, steps, false);
  rank0!.outputs.forEach((out, step) => {
    out.forEach((v, i) =>
      assert.ok(Math.abs(v - reference[step]![i]!) <= 1e-5 * Math.max(1, Math.abs(v)), `step ${step} [${i}]: ${v} vs ${reference[step]![i]}`),
    );
    if (step > 0) assert.notDeepEqual(withoutServerFeedback[step], reference[step], `step ${step}: the server error changes the result`);
  });
  // 2 words per chunk: the all-to-all's off-rank block (8), the server's signs (8), 3 + 3 scales (24).
  assert.deepEqual(rank0!.bytes, new Array(steps).fill(40));
});

test("1-bit Adam equals AdamW during the warm-up, then compresses the momentum at ≥ 25× fewer bytes and still trains the mlp on 2 ranks", {
  timeout: 120_000,
}, async () => {
  // Compressing during the warm-up, or freezing one step early or late, breaks the equality at
  // the freeze; syncing the gradients in full after it breaks the byte ratio.
  const steps = 60,
    freezeStep = 30;
  const [[adamw], [onebit, onebit1]] = await Promise.all([
    onTwoRanks<TrainRun>({ mode: "train", optimizer: "adamw", steps, freezeStep }),
    onTwoRanks<TrainRun>({ mode: "train", optimizer: "onebitadam", steps, freezeStep }),
  ]);
  for (let step = 0; step < freezeStep; step++) assert.deepEqual(onebit!.parameters[step], adamw!.parameters[step], `warm-up step ${step + 1} equals AdamW`);
  assert.notDeepEqual(onebit!.parameters[freezeStep], adamw!.parameters[freezeStep], "the first frozen step compresses");
  assert.deepEqual(onebit1!.parameters.at(-1), onebit!.parameters.at(-1), "the ranks stay identical after the freeze");

  const perStep = (run: TrainRun, step: number): number => run.bytes[step]! - (step > 0 ? run.bytes[step - 1]! : 0);
  assert.equal(perStep(onebit!, freezeStep - 1), 4 * 2741, "warm-up: the plain all-reduce of the mlp's 2,741 parameters");
  const frozen = perStep(onebit!, freezeStep + 1);
  assert.ok((4 * 2741) / frozen >= 25, `after the freeze: ${frozen} bytes a step, ${((4 * 2741) / frozen).toFixed(1)}× fewer`);

  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [first, last, plain] = [mean(onebit!.losses.slice(0, 5)), mean(onebit!.losses.slice(-10)), mean(adamw!.losses.slice(-10))];
  assert.ok(last < 0.6 * first, `1-bit Adam: loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
  assert.ok(last < 1.2 * plain, `1-bit Adam's last losses ${last.toFixed(3)} against AdamW's ${plain.toFixed(3)}`);
});

test("an overflow on one rank after the freeze skips the step on both ranks and halves the loss scale once, not forever (DeepSpeed 753)", {
  timeout: 60_000,
}, async () => {
  // A rank deciding alone would skip the compressed all-reduce its peer runs (a timeout); an inf
  // fed into the momentum or the compression errors would make every later step overflow.
  const [rank0, rank1] = await onTwoRanks<TrainRun>({ mode: "train", optimizer: "onebitadam", steps: 9, freezeStep: 3, overflowAt: 5 });
  for (const run of [rank0!, rank1!]) {
    assert.deepEqual(
      run.stepped,
      Array.from({ length: 9 }, (_, step) => step !== 5),
    );
    assert.deepEqual(
      run.scales,
      Array.from({ length: 9 }, (_, step) => (step < 5 ? 1024 : 512)),
    );
    assert.deepEqual(run.parameters[5], run.parameters[4], "the skipped step leaves the parameters");
    assert.ok(run.parameters[8]!.every(Number.isFinite), "finite after the overflow");
  }
  assert.deepEqual(rank1!.parameters[8], rank0!.parameters[8]);
});
