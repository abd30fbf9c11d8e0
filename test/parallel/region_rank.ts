/**
 * One rank of the differentiable-collective tests: a two-layer MLP split Megatron-style over
 * the group (first layer by columns, second by rows), its result and gradients next to the
 * unsplit model's, computed on this rank from the same seed.
 */
import { mul } from "../../src/ops/binary.js";
import { slice } from "../../src/ops/layout.js";
import { matmul } from "../../src/ops/matmul.js";
import { sum } from "../../src/ops/reduce.js";
import { relu } from "../../src/ops/unary.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { copyToRegion, gatherFromRegion, reduceFromRegion, reduceScatterToRegion, scatterToRegion } from "../../src/parallel/region_ops.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";

export type Scenario = "mlp" | "gather" | "sequence";
/** Each check: this rank's values, then the unsplit model's. */
export type Checks = Record<string, [number[], number[]]>;

const ROWS = 8,
  IN = 6,
  HIDDEN = 12,
  OUT = 4;

function leaf(t: Tensor): Tensor {
  t.requiresGrad = true;
  return t;
}

export function run(group: ProcessGroup, { scenario }: { scenario: Scenario }): Checks {
  manualSeed(5);
  const x = randn([ROWS, IN]),
    w1 = randn([IN, HIDDEN]),
    w2 = randn([HIDDEN, OUT]),
    t = randn([ROWS, OUT]),
    t1 = randn([ROWS, HIDDEN]);
  const r = group.rank,
    cols = HIDDEN / group.size,
    rows = ROWS / group.size;
  const own = (g: Tensor, axis: number, n: number): number[] => tidy(() => slice(g, axis, r * n, (r + 1) * n).toArray());
  // The unsplit model.
  const [xf, w1f, w2f] = [x, w1, w2].map((v) => leaf(v.share()));
  const full = scenario === "gather" ? matmul(xf!, w1f!) : matmul(relu(matmul(xf!, w1f!)), w2f!);
  sum(mul(full, scenario === "gather" ? t1 : t)).backward();
  // The same model split over the group: this rank's columns of w1 and rows of w2.
  const xs = leaf(x.share()),
    w1s = leaf(slice(w1, 1, r * cols, (r + 1) * cols)),
    w2s = leaf(slice(w2, 0, r * cols, (r + 1) * cols));
  const checks: Checks = {};
  if (scenario === "mlp") {
    const y = reduceFromRegion(matmul(relu(matmul(copyToRegion(xs, group), w1s)), w2s), group);
    sum(mul(y, t)).backward();
    checks.y = [y.toArray(), full.toArray()];
  } else if (scenario === "gather") {
    const h = gatherFromRegion(matmul(copyToRegion(xs, group), w1s), group);
    sum(mul(h, t1)).backward();
    checks.h = [h.toArray(), full.toArray()];
  } else {
    // Sequence parallel: rows split outside the tensor-parallel region, each rank's loss its rows'.
    const mine = gatherFromRegion(scatterToRegion(xs, group, { dim: 0 }), group, { dim: 0, backward: "reduceScatter" });
    const y = reduceScatterToRegion(matmul(relu(matmul(mine, w1s)), w2s), group, { dim: 0 });
    sum(mul(y, slice(t, 0, r * rows, (r + 1) * rows))).backward();
    checks.y = [y.toArray(), own(full, 0, rows)];
  }
  checks["x.grad"] = [xs.grad!.toArray(), xf!.grad!.toArray()];
  checks["w1.grad"] = [w1s.grad!.toArray(), own(w1f!.grad!, 1, cols)];
  if (scenario !== "gather") checks["w2.grad"] = [w2s.grad!.toArray(), own(w2f!.grad!, 0, cols)];
  return checks;
}
