/**
 * One rank of the compiled DDP test: a tiny GPT trained 20 steps with accumulation 2 under DDP,
 * eagerly and compiled, on this rank's own token windows; returns both runs' losses and
 * parameters and the compiled run's counts.
 */
import type { CompileStats } from "../../src/compile/index.js";
import { DataLoader } from "../../src/data/dataloader.js";
import { ArrayDataset } from "../../src/data/dataset.js";
import type { Sampler } from "../../src/data/sampler.js";
import { collateTokens, type TokenWindow } from "../../src/data/text.js";
import { GPT } from "../../src/models/gpt.js";
import { AdamW } from "../../src/optim/adamw.js";
import { DistributedDataParallel } from "../../src/parallel/ddp.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { manualSeed } from "../../src/tensor/random.js";
import { languageModel } from "../../src/train/task.js";
import { Trainer } from "../../src/train/trainer.js";

const VOCAB = 13,
  CONTEXT = 8,
  STEPS = 20;

export interface CompiledDdpRun {
  losses: number[];
  params: number[][];
  stats: CompileStats | null;
}

function windows(rank: number): TokenWindow[] {
  let state = 101 + rank;
  const token = (): number => (state = (state * 1103515245 + 12345) % 2 ** 31) % VOCAB;
  return Array.from({ length: 8 }, () => {
    const run = Int32Array.from({ length: CONTEXT + 1 }, token);
    return { x: run.slice(0, CONTEXT), y: run.slice(1) };
  });
}

function trainOnce(group: ProcessGroup, compile: boolean): CompiledDdpRun {
  manualSeed(group.rank + 1); // rank 0's initial weights reach every rank through DDP's broadcast
  const model = new GPT({ vocabSize: VOCAB, context: CONTEXT, layers: 1, heads: 2, width: 16 });
  const strategy = new DistributedDataParallel(model, group, { bucketCapMB: 0.01, firstBucketCapMB: 0.002 });
  const inOrder: Sampler = { length: 8, epochIndices: () => Int32Array.from({ length: 8 }, (_, i) => i) };
  const losses: number[] = [];
  try {
    const result = new Trainer({
      model,
      optimizer: new AdamW(model.parameters(), { lr: 3e-3 }),
      task: languageModel(),
      train: new DataLoader(new ArrayDataset(windows(group.rank)), { batchSize: 2, sampler: inOrder, collate: collateTokens }),
      accumulate: 2,
      clipGradNorm: 1,
      strategy,
      callbacks: [
        {
          onStepEnd: (info) => {
            losses.push(info.loss);
          },
        },
      ],
      compile: compile ? { log: () => {} } : null,
    }).fit({ steps: STEPS });
    return { losses, params: model.parameters().map((p) => p.toArray()), stats: result.compile };
  } finally {
    strategy.dispose();
  }
}

export function run(group: ProcessGroup): { eager: CompiledDdpRun; compiled: CompiledDdpRun } {
  return { eager: trainOnce(group, false), compiled: trainOnce(group, true) };
}
