/**
 * The few C math functions whose special cases differ from JavaScript's, with C's answers, so
 * the js kernels return what native/'s std::pow and friends return.
 */

/**
 * C's pow: pow(1, y) and pow(x, ±0) are 1 even for NaN, and pow(−1, ±∞) is 1; JavaScript's
 * Math.pow gives NaN for the first and last.
 *
 * @example
 * cPow(1, NaN); // 1 (Math.pow(1, NaN) is NaN)
 */
export function cPow(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return x ** y;
}

/**
 * fmaf(a, b, c): a·b + c rounded once to float32, as native's float32 loops compute it where
 * the compiler contracts a multiply and an add. For float32 a and b whose product is exact in
 * float64 (together at most 53 significant bits), the float64 sum s is rounded with its error
 * e known (TwoSum), and the one case where rounding s to float32 is wrong, s exactly halfway
 * between two float32 values while e is not 0, is settled by e's sign.
 *
 * @example
 * fmaf(1 + 2 ** -23, 1 - 2 ** -23, -1); // -(2 ** -46): no rounding of the product to float32
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bp = s - p;
  const e = p - (s - bp) + (c - bp);
  const r = Math.fround(s);
  if (e === 0 || r === s) return r;
  const other = r + 2 * (s - r); // the float32 on s's other side, if s is a midpoint
  if (Math.fround(other) !== other || s - r !== other - s) return r;
  return e > 0 ? Math.max(r, other) : Math.min(r, other);
}
