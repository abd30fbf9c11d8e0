import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { buildRun } from "../../src/train/build.js";
import type { ConfigInput } from "../../src/train/config.js";
import { readerOfStates } from "../../src/parallel/state.js";
import { DEFAULT_CONFIG } from "../../src/train/config.js";
import { parseConfig } from "../../src/train/config_file.js";
import { Trainer, type FitResult } from "../../src/train/trainer.js";

/**
 * Mixed precision trains as well as float32: the same seeds, data order and steps, in float32
 * and in bfloat16 autocast, must end within 0.5 percentage points of test accuracy (mlp, cnn)
 * and 0.5% of validation loss (a GPT). One epoch of each classifier and a reduced GPT keep this
 * to well under a minute on two quiet cores; the gap is measured, not assumed, at that length.
 */
function fit(input: ConfigInput): FitResult {
  const config = parseConfig(input, "precision test");
  const parts = buildRun(config);
  const trainer = new Trainer({ ...parts, clipGradNorm: config.train.clipGradNorm, evalEvery: config.train.evalEvery });
  return trainer.fit({ steps: parts.totalSteps });
}

function inBoth(input: ConfigInput & { train: object }): { f32: FitResult; bf16: FitResult } {
  return {
    f32: fit({ ...input, train: { ...input.train, precision: "float32" } }),
    bf16: fit({ ...input, train: { ...input.train, precision: "bfloat16" } }),
  };
}

describe("bfloat16 autocast matches float32 training", () => {
  test("mlp, one epoch: test accuracy within 0.5 points", (t) => {
    const { f32, bf16 } = inBoth({
      model: { kind: "mlp", hidden: [1024, 1024] },
      data: { kind: "fashion-mnist", batchSize: 256 },
      optimizer: { kind: "adamw", lr: 1e-3 },
      train: { epochs: 1 },
    });
    const gap = 100 * Math.abs(bf16.eval!.accuracy! - f32.eval!.accuracy!);
    t.diagnostic(`accuracy float32 ${(100 * f32.eval!.accuracy!).toFixed(2)}%, bfloat16 ${(100 * bf16.eval!.accuracy!).toFixed(2)}%`);
    assert.ok(f32.eval!.accuracy! > 0.8, `float32 accuracy ${f32.eval!.accuracy}`);
    assert.ok(gap <= 0.5, `float32 ${(100 * f32.eval!.accuracy!).toFixed(2)}%, bfloat16 ${(100 * bf16.eval!.accuracy!).toFixed(2)}%`);
  });

  test("cnn (the default run), one epoch: test accuracy within 0.5 points", (t) => {
    const { f32, bf16 } = inBoth({ ...DEFAULT_CONFIG, train: { ...(DEFAULT_CONFIG.train as object), epochs: 1 } });
    const gap = 100 * Math.abs(bf16.eval!.accuracy! - f32.eval!.accuracy!);
    t.diagnostic(`accuracy float32 ${(100 * f32.eval!.accuracy!).toFixed(2)}%, bfloat16 ${(100 * bf16.eval!.accuracy!).toFixed(2)}%`);
    assert.ok(f32.eval!.accuracy! > 0.8, `float32 accuracy ${f32.eval!.accuracy}`);
    assert.ok(gap <= 0.5, `float32 ${(100 * f32.eval!.accuracy!).toFixed(2)}%, bfloat16 ${(100 * bf16.eval!.accuracy!).toFixed(2)}%`);
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
