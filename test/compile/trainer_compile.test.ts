import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { DataLoader } from "../../src/data/dataloader.js";
import { ArrayDataset } from "../../src/data/dataset.js";
import type { Sampler } from "../../src/data/sampler.js";
import { collateTokens, type TokenWindow } from "../../src/data/text.js";
import { GPT } from "../../src/models/gpt.js";
import { AdamW } from "../../src/optim/adamw.js";
import { manualSeed } from "../../src/tensor/random.js";
import { buildRun } from "../../src/train/build.js";
import type { ConfigInput } from "../../src/train/config.js";
import { ConfigError, parseConfig } from "../../src/train/config_file.js";
import type { Strategy } from "../../src/parallel/strategy.js";
import { languageModel } from "../../src/train/task.js";
import { Trainer } from "../../src/train/trainer.js";
import type { CompileStats } from "../../src/compile/index.js";

/**
 * Compiled training equals eager training: the same config trained 50 steps (tiny sizes) with
 * and without train.compile gives the same loss at every step and the same parameters, within
 * 1e-6 relative in float32 and bfloat16 autocast alike (the replay runs the kernels eager ran,
 * on the same values). The schedules' warm-up changes the learning rate every step, the loss
 * scale changes under float16, and the steps are replayed (checked), so a replay that froze a
 * per-step value, dropped a kernel or read a stale buffer fails here.
 */

interface Outcome {
  losses: number[];
  params: Float32Array[];
  stats: CompileStats | null;
  skipped: number;
}

function train(input: ConfigInput, compile: boolean, steps = 50): Outcome {
  const config = parseConfig(input, "compile equality test");
  const parts = buildRun(config);
  const losses: number[] = [];
  try {
    const trainer = new Trainer({
      ...parts,
      eval: undefined,
      accumulate: config.train.accumulate,
      clipGradNorm: config.train.clipGradNorm,
      callbacks: [
        {
          onStepEnd: (info) => {
            losses.push(info.loss);
          },
        },
      ],
      compile: compile ? { log: () => {} } : null,
    });
    const result = trainer.fit({ steps });
    return {
      losses,
      params: parts.model.parameters().map((p) => Float32Array.from(p.data as Float32Array)),
      stats: result.compile,
      skipped: result.skippedSteps,
    };
  } finally {
    parts.train.close();
  }
}

function relativeGap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0,
    norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += a[i]! ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-30);
}

function assertSameTraining(input: ConfigInput, steps = 50): Outcome {
  const eager = train(input, false, steps),
    compiled = train(input, true, steps);
  assert.equal(compiled.losses.length, steps);
  compiled.losses.forEach((loss, i) => {
    assert.ok(Math.abs(loss - eager.losses[i]!) <= 1e-6 * Math.abs(eager.losses[i]!), `step ${i + 1}: loss ${loss}, eager ${eager.losses[i]}`);
  });
  compiled.params.forEach((p, i) => {
    const gap = relativeGap(eager.params[i]!, p);
    assert.ok(gap <= 1e-6, `parameter ${i}: relative gap ${gap}`);
  });
  const stats = compiled.stats!;
  assert.ok(stats.compilations >= 1 && stats.replays >= steps - 4, `compiled ${stats.compilations}, replayed ${stats.replays} of ${steps}`);
  return compiled;
}

const mlp: ConfigInput = {
  model: { kind: "mlp", hidden: [32] },
  data: { kind: "fashion-mnist", batchSize: 16 },
  optimizer: { kind: "adamw", lr: 2e-3 },
  schedule: { warmup: 20, decay: "cosine", floor: 0.1 },
  train: { clipGradNorm: 1.0 },
};
const cnn: ConfigInput = {
  model: { kind: "cnn", channels: [4, 8], hidden: 16 },
  data: { kind: "fashion-mnist", batchSize: 8 },
  optimizer: { kind: "adamw", lr: 2e-3 },
  schedule: { warmup: 20, decay: "cosine", floor: 0.1 },
  train: { clipGradNorm: 1.0 },
};
const gpt = (model: object = {}, train: object = {}, optimizer: object = {}): ConfigInput => ({
  model: { kind: "gpt", layers: 2, heads: 2, width: 32, context: 16, ...model },
  data: { kind: "text", batchSize: 4, valBatches: 1 },
  optimizer: { kind: "adamw", lr: 1e-3, weightDecay: 0.1, ...optimizer },
  schedule: { warmup: 10, decay: "cosine", floor: 0.1 },
  train: { clipGradNorm: 1.0, ...train },
});

describe("compiled training equals eager training over 50 steps", () => {
  test("mlp, float32", () => {
    assertSameTraining(mlp);
  });
  test("cnn, float32", () => {
    assertSameTraining(cnn);
  });
  test("gpt, float32", () => {
    assertSameTraining(gpt());
  });
  test("mlp and cnn, bfloat16 autocast", () => {
    assertSameTraining({ ...mlp, train: { precision: "bfloat16" } });
    assertSameTraining({ ...cnn, train: { precision: "bfloat16" } });
  });
  test("gpt, bfloat16 autocast", () => {
    assertSameTraining(gpt({}, { precision: "bfloat16" }));
  });
  test("gpt, accumulation 2 and activation checkpointing, SGD with momentum", () => {
    assertSameTraining(gpt({ checkpoint: true }, { accumulate: 2 }, { kind: "sgd", lr: 0.05, momentum: 0.9, weightDecay: 0 }));
  });
  test("mlp, float16 with loss scaling whose scale changes during the run", () => {
    const run = assertSameTraining({ ...mlp, train: { precision: "float16", lossScale: { initScale: 2 ** 20, growthInterval: 3 } } });
    assert.ok(run.skipped > 0, "the scale backed off at least once (so it changed between replays)");
  });
});

test("a sequence-length warm-up compiles once per distinct length, and replays each after", () => {
  const input = gpt({}, {}, {});
  (input.data as { seqLenWarmup?: object }).seqLenWarmup = { start: 8, steps: 20, multiple: 4 };
  const config = parseConfig(input, "warm-up compile test");
  const parts = buildRun(config);
  const lengths = new Set<number>();
  try {
    const trainer = new Trainer({
      ...parts,
      eval: undefined,
      prepareBatch: (batch, step) => {
        const prepared = parts.prepareBatch!(batch, step);
        lengths.add(prepared.x.shape[1]!);
        return prepared;
      },
      compile: { log: () => {} },
    });
    const stats = trainer.fit({ steps: 30 }).compile!;
    assert.deepEqual(
      [...lengths].sort((a, b) => a - b),
      [8, 12, 16],
    );
    assert.equal(stats.compilations, lengths.size, "one compilation per length");
    assert.equal(stats.eagerSteps, 2 * lengths.size, "two recorded steps per length");
    assert.equal(stats.replays, 30 - 2 * lengths.size);
  } finally {
    parts.train.close();
  }
});

test("the last short batch of each epoch compiles once, not every epoch", () => {
  const vocab = 11,
    context = 8;
  let state = 7;
  const token = (): number => (state = (state * 1103515245 + 12345) % 2 ** 31) % vocab;
  const windows: TokenWindow[] = Array.from({ length: 10 }, () => {
    const run = Int32Array.from({ length: context + 1 }, token);
    return { x: run.slice(0, context), y: run.slice(1) };
  });
  const inOrder: Sampler = { length: 10, epochIndices: () => Int32Array.from({ length: 10 }, (_, i) => i) };
  manualSeed(1);
  const model = new GPT({ vocabSize: vocab, context, layers: 1, heads: 2, width: 16 });
  const trainer = new Trainer({
    model,
    optimizer: new AdamW(model.parameters(), { lr: 1e-3 }),
    task: languageModel(),
    train: new DataLoader(new ArrayDataset(windows), { batchSize: 4, sampler: inOrder, collate: collateTokens }),
    compile: { log: () => {} },
  });
  // Batches of 4, 4 and 2 windows, five epochs.
  const stats = trainer.fit({ epochs: 5 }).compile!;
  assert.equal(stats.compilations, 2, "the full batch and the short one");
  assert.equal(stats.eagerSteps, 4);
  assert.equal(stats.replays, 15 - 4);
});

test("train.compile refuses a strategy it cannot replay, naming it (a config error)", () => {
  manualSeed(1);
  const model = new GPT({ vocabSize: 5, context: 4, layers: 1, heads: 1, width: 8 });
  class PipelineLike {
    readonly module = model;
  }
  assert.throws(
    () =>
      new Trainer({
        model,
        optimizer: new AdamW(model.parameters()),
        task: languageModel(),
        train: new DataLoader(new ArrayDataset<TokenWindow>([{ x: Int32Array.of(0, 1, 2, 3), y: Int32Array.of(1, 2, 3, 4) }]), {
          batchSize: 1,
          collate: collateTokens,
        }),
        strategy: new PipelineLike() as unknown as Strategy,
        compile: {},
      }),
    (error: Error) => error instanceof ConfigError && /the PipelineLike strategy cannot be compiled/.test(error.message),
  );
});
