/**
 * The complementary error function in float64, for the js backend's exact GELU. JavaScript has
 * no Math.erf; this is accurate to a few float64 ulps, far below the float32 rounding it is an
 * oracle for, and computes erfc directly so the GELU of a very negative x keeps its tiny value.
 */

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * erfc(x) = 1 − erf(x).
 *
 * @example
 * erfc(0); // 1
 * 1 - erfc(1); // erf(1) ≈ 0.8427007929497149
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x < -1.5) return 2 - erfcTail(-x);
  if (x > 1.5) return erfcTail(x);
  return 1 - erfSeries(x);
}

/**
 * erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ·x^(2n+1) / (1·3·…·(2n+1)): every term has x's sign, so
 * nothing cancels; the terms shrink once n exceeds x², by 20 terms for |x| ≤ 1.5. Only
 * 1 − erf cancels, by at most erfc(1.5) ≈ 0.034, so erfc keeps all but 5 bits.
 */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x,
    sum = x;
  for (let n = 0; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * x2) / (2 * n + 3);
    sum += term;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/**
 * erfc(x) for x > 1.5 by its continued fraction e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3⁄2/(x + …)))),
 * evaluated from a depth (200) where, for x > 1.5, the remaining terms no longer change a
 * float64 (measured against glibc's erfc).
 */
function erfcTail(x: number): number {
  let fraction = x;
  for (let n = 200; n >= 1; n--) fraction = x + n / 2 / fraction;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / fraction;
}
