import assert from "node:assert/strict";

import type { Tensor } from "../../src/tensor/tensor.js";

export interface Tolerance {
  /** Relative tolerance per element. */
  rtol: number;
  /**
   * Absolute floor, as a fraction of the largest |expected| element: elements near zero are
   * judged against the tensor's scale, not their own.
   */
  floor?: number;
}

export const F32: Tolerance = { rtol: 1e-5, floor: 1e-6 };
export const BF16: Tolerance = { rtol: 1e-2, floor: 2e-3 };

/** Asserts shape equality and |actual − expected| ≤ rtol·|expected| + floor·max|expected| everywhere. */
export function assertClose(actual: Tensor | number[], expected: Tensor | number[], tol: Tolerance, what: string): void {
  if (!Array.isArray(actual) && !Array.isArray(expected)) {
    assert.deepEqual([...actual.shape], [...expected.shape], `${what}: shape`);
  }
  const a = Array.isArray(actual) ? actual : actual.toArray();
  const e = Array.isArray(expected) ? expected : expected.toArray();
  assert.equal(a.length, e.length, `${what}: element count`);
  let scale = 0;
  for (const v of e) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  const floor = (tol.floor ?? 0) * scale;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = e[i]!;
    if (Number.isNaN(y) ? Number.isNaN(x) : x === y) continue;
    const excess = Math.abs(x - y) - (tol.rtol * Math.abs(y) + floor);
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${what}: element ${worst} is ${a[worst]}, expected ${e[worst]} (rtol ${tol.rtol}, floor ${floor.toExponential(2)}; ` +
        `|diff| ${Math.abs(a[worst]! - e[worst]!).toExponential(3)})`,
    );
  }
}
