/**
 * One rank of the model-state accounting test: an MLP trained for two AdamW steps through DDP
 * (`zero: 0`) or ZeroDataParallel, optionally with the moments offloaded to disk; returns the
 * tracker's model-state bytes of this rank (its own thread's tracker) and the final parameters.
 */
import { join } from "node:path";

import { mlp } from "../../src/models/mlp.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { AdamW } from "../../src/optim/adamw.js";
import { DistributedDataParallel } from "../../src/parallel/ddp.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import type { Strategy } from "../../src/parallel/strategy.js";
import { ZeroDataParallel } from "../../src/parallel/zero/zero.js";
import { memory } from "../../src/tensor/memory.js";
import { manualSeed, randint, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import { largestParameter, measuredModelStateBytes, type ModelStateBytes, parameterCount } from "../../src/train/model_state_bytes.js";

export interface ModelStateArgs {
  zero: 0 | 1 | 2 | 3;
  /** A folder for the offload files, or null to keep the moments in memory. */
  offloadDir: string | null;
  /** Bucket (unit) size in MiB of DDP and ZeRO. */
  bucketCapMB: number;
}

export interface ModelStateResult {
  measured: ModelStateBytes;
  parameters: number;
  largestParameter: number;
  /** Rank 0's final parameters (empty on the others, and at stage 3, where no rank holds them whole). */
  params: number[][];
}

export function run(group: ProcessGroup, args: ModelStateArgs): ModelStateResult {
  manualSeed(5);
  const model = mlp({ inputs: 64, hidden: [384, 384], classes: 10 });
  const caps = { bucketCapMB: args.bucketCapMB, firstBucketCapMB: args.bucketCapMB };
  const strategy: Strategy =
    args.zero === 0 ? new DistributedDataParallel(model, group, caps) : new ZeroDataParallel(model, group, { stage: args.zero, ...caps });
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2 });
  if (args.offloadDir) optimizer.offloadState(join(args.offloadDir, `rank${group.rank}.bin`));
  manualSeed(100 + group.rank);
  memory.resetPeak();
  for (let step = 0; step < 2; step++) {
    tidy(() => strategy.backward(crossEntropy(model.forward(randn([8, 64])), randint(0, 10, [8]))));
    strategy.clipGradNorm(1.0);
    strategy.step(optimizer);
    optimizer.zeroGrad();
  }
  const measured = measuredModelStateBytes(memory.report(), optimizer);
  strategy.dispose();
  optimizer.closeOffload();
  return {
    measured,
    parameters: parameterCount(model),
    largestParameter: largestParameter(model),
    params: group.rank === 0 && args.zero < 3 ? model.parameters().map((p) => p.toArray()) : [],
  };
}
