/**
 * Philox4x32-10 in plain TypeScript with BigInt arithmetic: a reference, written apart from
 * the native kernel, that the tests check against Random123's known answers and then use to
 * check the native stream at any seed and offset.
 */

const M0 = 0xd2511f53n, M1 = 0xcd9e8d57n;
const W0 = 0x9e3779b9, W1 = 0xbb67ae85;

function mulhilo(a: bigint, b: number): [number, number] {
  const product = a * BigInt(b);
  return [Number(product >> 32n), Number(product & 0xffffffffn)];
}

/** One Philox4x32-10 block: four counter words and two key words to four output words. */
export function philox4x32_10(counter: readonly number[], key: readonly number[]): number[] {
  let [c0, c1, c2, c3] = counter as [number, number, number, number];
  let [k0, k1] = key as [number, number];
  for (let round = 0; round < 10; round++) {
    const [hi0, lo0] = mulhilo(M0, c0);
    const [hi1, lo1] = mulhilo(M1, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** The raw words of turbine's stream: block b is philox(counter = offset + b, key = seed). */
export function streamWords(seed: number, offset: number, count: number): number[] {
  const words: number[] = [];
  const key = [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
  for (let b = 0; words.length < count; b++) {
    const c = offset + b;
    words.push(...philox4x32_10([c % 2 ** 32, Math.floor(c / 2 ** 32), 0, 0], key));
  }
  return words.slice(0, count);
}
