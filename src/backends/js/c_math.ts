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
  return Math.pow(x, y);
}
