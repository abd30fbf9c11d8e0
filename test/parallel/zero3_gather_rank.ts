/**
 * One rank of the ZeRO-3 gather tests: a deferInit MLP of six layers (five of 64 × 64) trained
 * under ZeroDataParallel at stage 3 through a CountingGroup, in float32 or bf16 autocast.
 * Returns the memory tracker's peak of parameter bytes over the steps with what the rank holds
 * for good (its master chunks), each unit's gathered bytes, and the all-gathers of the steps.
 */
import { withPrecision } from "../../src/amp/autocast.js";
import { mlp } from "../../src/models/mlp.js";
import { deferInit } from "../../src/nn/deferred.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { AdamW } from "../../src/optim/adamw.js";
import { CountingGroup } from "../../src/parallel/counting_group.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { ZeroDataParallel } from "../../src/parallel/zero/zero.js";
import { memory } from "../../src/tensor/memory.js";
import { manualSeed, randint, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";

export interface Zero3GatherArgs {
  precision: "float32" | "bfloat16";
  steps: number;
}

export interface Zero3GatherResult {
  /** The tracker's peak of the parameter category over the steps. */
  peakParameterBytes: number;
  /** Bytes of this rank's f32 master chunks (held throughout). */
  masterBytes: number;
  /** Per unit: bytes of its gathered f32 flat buffer (padded). */
  unitBytes: number[];
  allGatherCalls: number;
  allGatherBytes: number;
  losses: number[];
}

export function run(group: ProcessGroup, args: Zero3GatherArgs): Zero3GatherResult {
  manualSeed(7);
  const model = deferInit(() => mlp({ inputs: 24, hidden: [64, 64, 64, 64, 64], classes: 8 }));
  const counting = new CountingGroup(group);
  const zero = new ZeroDataParallel(model, counting, { stage: 3 });
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2 });
  counting.reset();
  memory.resetPeak();
  manualSeed(100 + group.rank);
  // One batch, repeated: its loss falls if each step's weights are the updated ones.
  const x = randn([6, 24]),
    y = randint(0, 8, [6]);
  const losses: number[] = [];
  for (let step = 0; step < args.steps; step++) {
    tidy(() => {
      const loss = withPrecision(args.precision, () => crossEntropy(model.forward(x), y));
      losses.push(loss.item());
      zero.backward(loss);
    });
    zero.clipGradNorm(1.0);
    zero.step(optimizer);
    optimizer.zeroGrad();
  }
  const { allGather } = counting.counts;
  const result = {
    peakParameterBytes: memory.report().peak.parameter,
    masterBytes: zero.shard.masters.reduce((n, m) => n + 4 * m.size, 0),
    unitBytes: zero.units.map((u) => 4 * u.chunk * group.size),
    allGatherCalls: allGather.calls,
    allGatherBytes: allGather.bytes,
    losses,
  };
  zero.dispose();
  return result;
}
