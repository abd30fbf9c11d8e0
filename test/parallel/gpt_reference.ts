/**
 * The one-process side of the model-parallel tests: the same pseudo-random token batches on
 * every rank (a fixed LCG, independent of the generators) and a tiny GPT trained on them.
 */
import { GPT, type GPTConfig } from "../../src/models/gpt.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { AdamW } from "../../src/optim/adamw.js";
import { clipGradNorm } from "../../src/optim/clip.js";
import type { MicroBatchRun } from "../../src/parallel/strategy.js";
import { fromTypedArray } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { languageModel } from "../../src/train/task.js";

/** `steps` batches of [rows, time] token ids and their targets by a rule a model learns within 20 steps: the next token is 3·x + 1. */
export function ruleBatches(steps: number, rows: number, time: number, vocab: number): [Tensor, Tensor][] {
  let s = 12345;
  const next = (): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % vocab;
  };
  return Array.from({ length: steps }, () => {
    const x = new Int32Array(rows * time).map(next),
      y = x.map((v) => (3 * v + 1) % vocab);
    return [fromTypedArray(x, [rows, time]), fromTypedArray(y, [rows, time])];
  });
}

/** One synced micro-batch of the language-model task's loss (unweighted, no autocast), for a strategy's runMicroBatch. */
export function languageModelRun(x: Tensor, y: Tensor): MicroBatchRun {
  const task = languageModel();
  return { x, y, loss: (m, xx, yy) => task.loss(m, { x: xx, y: yy }), scaleLoss: (l) => l, autocast: (fn) => fn(), sync: true };
}

/** The tests' optimizer: AdamW at lr 1e-3, weight decay 0.1. */
export const adamwOf = (m: { parameters(): Tensor[] }): AdamW => new AdamW(m.parameters(), { lr: 1e-3, weightDecay: 0.1 });

/** The GPT of `config` from seed 7, trained one step per batch (clipping at norm 1): its losses and norms. */
export function trainReference(config: GPTConfig, data: [Tensor, Tensor][]): { full: GPT; optimizer: AdamW; losses: number[]; norms: number[] } {
  manualSeed(7);
  const full = new GPT(config);
  const optimizer = adamwOf(full);
  const losses: number[] = [],
    norms: number[] = [];
  for (const [x, y] of data) {
    full.zeroGrad();
    tidy(() => {
      const loss = crossEntropy(full.forward(x), y);
      loss.backward();
      losses.push(loss.item());
    });
    norms.push(clipGradNorm(full.parameters(), 1));
    optimizer.step();
  }
  return { full, optimizer, losses, norms };
}
