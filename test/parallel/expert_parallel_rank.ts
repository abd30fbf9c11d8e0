/**
 * One rank of the expert-parallel tests: a mixture of 4 experts (top-2, capacity factor 1,
 * dropping) run expert-parallel over the group on this rank's tokens, next to the same layer with
 * every expert local on every rank's tokens (the 1-rank run over the same micro-batches). With
 * "oneExpert" every token's first choice is expert 0, whose capacity overflows.
 */
import { backward } from "../../src/autograd/backward.js";
import { add, mul } from "../../src/ops/binary.js";
import { copyOf } from "../../src/ops/inplace.js";
import { abs } from "../../src/ops/unary.js";
import { sum } from "../../src/ops/reduce.js";
import { MixtureOfExperts } from "../../src/nn/moe.js";
import { shardExperts } from "../../src/parallel/expert/expert_parallel.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";

export type Scenario = "balanced" | "oneExpert";
/** Each check: this rank's values, then the reference's; stray: other ranks' experts that got a gradient here. */
export interface Checks {
  values: Record<string, [number[], number[]]>;
  stray: string[];
}

const TOKENS = 6,
  WIDTH = 8,
  EXPERTS = 4;

export function run(group: ProcessGroup, { scenario }: { scenario: Scenario }): Checks {
  manualSeed(11);
  const moe = new MixtureOfExperts(WIDTH, { experts: EXPERTS, topK: 2, capacityFactor: 1, drop: true, hidden: 12, auxLossWeight: 0.1 });
  let xs = Array.from({ length: group.size }, () => randn([TOKENS, WIDTH]));
  const gouts = Array.from({ length: group.size }, () => randn([TOKENS, WIDTH]));
  if (scenario === "oneExpert") {
    xs = xs.map((x) => add(abs(x), 0.1));
    const w = moe.router.weight.toHost();
    for (let i = 0; i < WIDTH; i++) w[i]! += 3; // expert 0's row: positive tokens all prefer it
  }
  const params = (): Tensor[] => moe.parameters();
  const lossOf = (out: Tensor, r: number): Tensor => add(sum(mul(out, gouts[r]!)), mul(moe.auxLoss!, 0.1));

  // Reference: all experts here, each rank's micro-batch in turn; parameter gradients add up.
  const reference: { out: number[]; xGrad: number[] }[] = [];
  for (let r = 0; r < group.size; r++) {
    const x = copyOf(xs[r]!);
    x.requiresGrad = true;
    const out = moe.forward(x);
    backward(lossOf(out, r));
    reference.push({ out: out.toArray(), xGrad: x.grad!.toArray() });
  }
  const refGrads = params().map((p) => p.grad!.toArray());
  for (const p of params()) p.grad = null;

  shardExperts(moe, group);
  const x = copyOf(xs[group.rank]!);
  x.requiresGrad = true;
  const out = moe.forward(x);
  backward(lossOf(out, group.rank));
  const checks: Checks = {
    values: { output: [out.toArray(), reference[group.rank]!.out], inputGrad: [x.grad!.toArray(), reference[group.rank]!.xGrad] },
    stray: [],
  };
  const per = EXPERTS / group.size;
  for (const [i, [name, p]] of moe.namedParameters().entries()) {
    const owner = name.startsWith("experts.") ? Math.floor(Number(name.split(".")[1]) / per) : null;
    if (owner === null) {
      // The router sees only this rank's tokens: the ranks' gradients add up to the reference's.
      const g = copyOf(p.grad!);
      group.allReduce(g, "sum");
      checks.values[name] = [g.toArray(), refGrads[i]!];
    } else if (owner === group.rank) {
      checks.values[name] = [p.grad ? p.grad.toArray() : [], refGrads[i]!];
    } else if (p.grad) {
      checks.stray.push(name);
    }
  }
  return checks;
}
