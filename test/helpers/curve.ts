import assert from "node:assert/strict";

/**
 * The largest relative difference, step by step, between a loss curve and its reference.
 *
 * @example
 * curveDeviation([2.0, 1.5], [2.0, 1.5015]); // ≈ 1e-3
 */
export function curveDeviation(actual: readonly number[], expected: readonly number[]): number {
  assert.equal(actual.length, expected.length, "the curve has as many steps as the reference");
  let worst = 0;
  actual.forEach((l, i) => {
    const d = Math.abs(l - expected[i]!) / Math.abs(expected[i]!);
    worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
  });
  return worst;
}

/**
 * How far turbine's loss curve may sit from PyTorch's: 10× the fixture's conditioning, the
 * largest divergence of PyTorch's float32 run from its own variants that differ only in rounding
 * (a layer computed in float64 and rounded once, a K-sum split in two, the gpt run in float64;
 * runs_gpt.py and runs_mlp.py measure it and store it in the fixture). turbine's kernels round differently from
 * PyTorch's, so its curve is one more such variant. Measured on the committed fixtures:
 *
 * | fixture | conditioning | turbine vs PyTorch | smallest recipe mistake |
 * |---|---|---|---|
 * | gpt (20 steps) | 1.4e-7 | 1.3e-7 | 1.2e-4 (no weight decay) |
 * | mlp adamw, warm-up, cosine, clip | 3.5e-7 | 3.3e-7 | 3.0e-3 (decay on matrices only) |
 * | mlp sgd momentum | 3.6e-6 | 3.6e-6 | 0.12 (weight decay 0.01) |
 * | mlp adam | 3.3e-7 | 2.8e-7 | 4.8e-3 (beta2 0.99) |
 *
 * So the factor 10 leaves about 10× room for another CPU's kernels and sits 80× or more below
 * what a wrong weight decay, beta or clipping moves the curve (each curve test's mutation checks run
 * those mistakes through the same comparison and require it to fail).
 *
 * @example
 * curveTolerance(1.4e-7); // 1.4e-6
 */
export function curveTolerance(conditioning: number): number {
  return CONDITIONING_FACTOR * conditioning;
}

const CONDITIONING_FACTOR = 10;
