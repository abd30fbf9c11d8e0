import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { noGrad } from "../../src/autograd/grad_mode.js";
import { cast } from "../../src/ops/cast.js";
import { tidy } from "../../src/tensor/scope.js";
import { buildRun } from "../../src/train/build.js";
import type { Callback } from "../../src/train/callbacks.js";
import type { ConfigInput } from "../../src/train/config.js";
import { readerOfStates } from "../../src/parallel/state.js";
import { DEFAULT_CONFIG } from "../../src/train/config.js";
import { parseConfig } from "../../src/train/config_file.js";
import { Trainer, type FitResult } from "../../src/train/trainer.js";

/**
 * Mixed precision trains as well as float32: the same seeds, data order and steps, in float32
 * and in bfloat16 autocast, must end within bounds measured over several seeds (accuracy and
 * validation loss). One epoch of each classifier and a reduced GPT keep this to well under a
 * minute on two quiet cores.
 */
function fit(input: ConfigInput, mistake?: (parts: ReturnType<typeof buildRun>) => Callback): FitResult {
  const config = parseConfig(input, "precision test");
  const parts = buildRun(config);
  const callbacks = mistake ? [mistake(parts)] : [];
  const trainer = new Trainer({ ...parts, clipGradNorm: config.train.clipGradNorm, evalEvery: config.train.evalEvery, callbacks });
  return trainer.fit({ steps: parts.totalSteps });
}

function inBoth(input: ConfigInput & { train: object }): { f32: FitResult; bf16: FitResult } {
  return {
    f32: fit({ ...input, train: { ...input.train, precision: "float32" } }),
    bf16: fit({ ...input, train: { ...input.train, precision: "bfloat16" } }),
  };
}

/**
 * A plausible mixed-precision mistake: the weights kept in bfloat16 (no float32 master copy), so
 * each update is rounded to bfloat16's 8 bits of mantissa and one smaller than half a unit in the
 * last place of its weight is lost.
 */
const noFloat32Master = (parts: ReturnType<typeof buildRun>): Callback => ({
  onStepEnd: () =>
    noGrad(() =>
      tidy(() => {
        for (const p of parts.model.parameters()) p.data.set(cast(cast(p, "bfloat16"), "float32").data);
      }),
    ),
});

/** Percentage points of accuracy and relative validation loss between two runs. */
function gaps(a: FitResult, b: FitResult): { points: number; loss: number } {
  return { points: 100 * Math.abs(a.eval!.accuracy! - b.eval!.accuracy!), loss: Math.abs(a.eval!.loss - b.eval!.loss) / a.eval!.loss };
}

const describeGap = (name: string, a: FitResult, b: FitResult): string =>
  `accuracy float32 ${(100 * a.eval!.accuracy!).toFixed(2)}%, ${name} ${(100 * b.eval!.accuracy!).toFixed(2)}%; loss ${a.eval!.loss.toFixed(4)}, ${b.eval!.loss.toFixed(4)}`;

describe("bfloat16 autocast matches float32 training", () => {
  // Measured at seeds 0-2 with this recipe (lr 1e-4, one epoch, 235 steps): bfloat16 ends 0.08,
  // 0.07 and 0.15 points of accuracy and 0.06%, 0.01% and 0.25% of validation loss from float32
  // (one seed at a time). The bounds, 0.5 points and 1%, are 3-4x those. At lr 1e-4 an update is about one
  // unit in the last place of a bfloat16 weight, which is what a float32 master copy is for:
  // without one (noFloat32Master) the loss ends 3.7-7.8% higher and accuracy 0.4-1.1 points lower.
  // (At lr 1e-3, seeds 0, 3 and 4, float32 and bfloat16 ended up to 0.39 points and 3% of loss
  // apart, and the missing master copy hid in that.)
  const mlp: ConfigInput & { train: object } = {
    model: { kind: "mlp", hidden: [1024, 1024] },
    data: { kind: "fashion-mnist", batchSize: 256 },
    optimizer: { kind: "adamw", lr: 1e-4 },
    train: { epochs: 1 },
  };
  let mlpF32: FitResult | undefined;

  test("mlp, one epoch at lr 1e-4: test accuracy within 0.5 points and validation loss within 1%", (t) => {
    const { f32, bf16 } = inBoth(mlp);
    mlpF32 = f32;
    const gap = gaps(f32, bf16);
    t.diagnostic(describeGap("bfloat16", f32, bf16));
    assert.ok(f32.eval!.accuracy! > 0.8, `float32 accuracy ${f32.eval!.accuracy}`);
    assert.ok(gap.points <= 0.5 && gap.loss <= 0.01, describeGap("bfloat16", f32, bf16));
  });

  test("the mlp comparison fails with bfloat16 weights and no float32 master copy", (t) => {
    const f32 = mlpF32 ?? fit({ ...mlp, train: { ...mlp.train, precision: "float32" } });
    const wrong = fit({ ...mlp, train: { ...mlp.train, precision: "bfloat16" } }, noFloat32Master);
    const gap = gaps(f32, wrong);
    t.diagnostic(describeGap("bfloat16 without master", f32, wrong));
    assert.ok(gap.points > 0.5 || gap.loss > 0.01, `the mistake stays within the bounds: ${describeGap("bfloat16 without master", f32, wrong)}`);
  });

  // Measured at seeds 0, 1 and 2 with the default recipe (lr 2e-3, warm-up and cosine, clipping)
  // over half an epoch (235 steps; float32 at 84.6%): bfloat16 ends 0.13, 0.01 and 0.15 points of
  // accuracy and 0.29%, 0.21% and 0.49% of loss from float32 (one epoch, seeds 0 and 1: 0.05 and
  // 0.00 points). The bound stays 0.5 points (3x those): a missing master copy moves this cnn by
  // only 0.15-0.33 points, so a tighter bound would not catch it either; the mlp test above does.
  // Half an epoch, since where bf16 runs through f32 (no AVX-512) one epoch took 45 s of the suite.
  test("cnn (the default run), half an epoch: test accuracy within 0.5 points", (t) => {
    const { f32, bf16 } = inBoth({ ...DEFAULT_CONFIG, train: { ...(DEFAULT_CONFIG.train as object), epochs: undefined, steps: 235 } });
    t.diagnostic(describeGap("bfloat16", f32, bf16));
    assert.ok(f32.eval!.accuracy! > 0.8, `float32 accuracy ${f32.eval!.accuracy}`);
    assert.ok(gaps(f32, bf16).points <= 0.5, describeGap("bfloat16", f32, bf16));
  });

  // Measured with this recipe: float32 against bfloat16 at one seed differs by 0.004% (seed 0) and
  // 0.06% (seed 1), while float32 alone moves 0.66% between seeds 0, 1 and 2. The bound, 8x the
  // largest measured gap, stays below what another seed moves the loss.
  test("gpt (2 layers, width 128, 150 steps of the gpt recipe): validation loss within 0.5%", (t) => {
    const { f32, bf16 } = inBoth({
      model: { kind: "gpt", layers: 2, heads: 4, width: 128, context: 64 },
      data: { kind: "text", batchSize: 32, valBatches: 10 },
      optimizer: { kind: "adamw", lr: 2e-3, betas: [0.9, 0.99], weightDecay: 0.1, decayOn: "matrices" },
      schedule: { warmup: 20, decay: "cosine", floor: 0.1 },
      train: { steps: 150, clipGradNorm: 1.0 },
    });
    const f = f32.eval!.loss,
      b = bf16.eval!.loss;
    t.diagnostic(`validation loss float32 ${f.toFixed(4)}, bfloat16 ${b.toFixed(4)}`);
    assert.ok(f < 2.6, `float32 validation loss ${f}`);
    assert.ok(Math.abs(b - f) / f <= 0.005, `validation loss float32 ${f.toFixed(4)}, bfloat16 ${b.toFixed(4)}`);
  });
});

describe("float16 with loss scaling", () => {
  test("overflowing steps are skipped and counted, the scale backs off, training goes on", () => {
    const config = parseConfig(
      {
        model: { kind: "mlp", hidden: [64] },
        data: { kind: "fashion-mnist", batchSize: 64 },
        train: { steps: 40, precision: "float16", lossScale: { initScale: 2 ** 40, growthInterval: 1000 } },
      },
      "float16 test",
    );
    const parts = buildRun(config);
    const trainer = new Trainer({ ...parts, eval: undefined });
    const result = trainer.fit({ steps: 40 });
    // The scaled gradients overflow float16 (max 65504) until the scale has halved enough.
    assert.ok(result.skippedSteps >= 10 && result.skippedSteps < 40, `skipped ${result.skippedSteps}`);
    assert.equal(parts.gradScaler!.getScale(), 2 ** (40 - result.skippedSteps));
    for (const p of parts.model.parameters()) assert.ok(p.toArray().every(Number.isFinite));
    // Checkpoints carry the scaler, so a resumed run continues with the same scale.
    const content = trainer.checkpointContent();
    assert.deepEqual(content.meta.gradScaler, parts.gradScaler!.stateDict());
    const resumed = buildRun(config);
    new Trainer({ ...resumed, eval: undefined }).restore({
      dir: "",
      meta: { ...content.meta, version: 2 },
      reader: readerOfStates([content.state]),
      writtenBy: { worldSize: 1, layout: content.state.layout },
      close: () => {},
    });
    assert.deepEqual(resumed.gradScaler!.stateDict(), parts.gradScaler!.stateDict());
  });

  test("float32 and bfloat16 runs have no scaler and skip nothing", () => {
    for (const precision of ["float32", "bfloat16"] as const) {
      const parts = buildRun(parseConfig({ model: { kind: "mlp", hidden: [16] }, data: { kind: "fashion-mnist" }, train: { steps: 2, precision } }, "test"));
      assert.equal(parts.gradScaler, null);
      assert.equal(new Trainer({ ...parts, eval: undefined }).fit({ steps: 2 }).skippedSteps, 0);
    }
  });
});
