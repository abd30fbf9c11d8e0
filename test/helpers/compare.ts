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

/**
 * Asserts shape equality and, element by element, |actual − expected| ≤ rtol·|expected| +
 * floor·max|expected| for at least one of the expected tensors (PyTorch's low-precision
 * result and the exact one, say).
 */
export function assertClose(actual: Tensor | number[], expected: Tensor | number[] | (Tensor | number[])[], tol: Tolerance, what: string): void {
  const references =
    Array.isArray(expected) && (expected.length === 0 || typeof expected[0] !== "number")
      ? (expected as (Tensor | number[])[])
      : [expected as Tensor | number[]];
  const a = Array.isArray(actual) ? actual : actual.toArray();
  const refs = references.map((r) => {
    if (!Array.isArray(actual) && !Array.isArray(r)) assert.deepEqual([...actual.shape], [...r.shape], `${what}: shape`);
    const e = Array.isArray(r) ? r : r.toArray();
    assert.equal(a.length, e.length, `${what}: element count`);
    let scale = 0;
    for (const v of e) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    return { e, floor: (tol.floor ?? 0) * scale };
  });
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const ok = refs.some(({ e, floor }) => {
      const y = e[i]!;
      return (Number.isNaN(y) ? Number.isNaN(x) : x === y) || Math.abs(x - y) <= tol.rtol * Math.abs(y) + floor;
    });
    if (!ok) {
      const { e, floor } = refs[0]!;
      assert.fail(
        `${what}: element ${i} is ${x}, expected ${refs.map((r) => r.e[i]).join(" or ")} (rtol ${tol.rtol}, floor ` +
          `${floor.toExponential(2)}; |diff| ${Math.abs(x - e[i]!).toExponential(3)})`,
      );
    }
  }
}

/** ‖a − b‖ ≤ rtol · ‖b‖ (a tensor's relative error, as a whole). */
export function assertRelative(a: number[], b: number[], rtol: number, what: string): void {
  let diff = 0,
    norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  assert.equal(a.length, b.length, what);
  assert.ok(Math.sqrt(diff) <= rtol * Math.sqrt(norm) + 1e-12, `${what}: relative error ${Math.sqrt(diff / norm)} > ${rtol}`);
}
