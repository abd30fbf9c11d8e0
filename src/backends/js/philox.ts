/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) in
 * plain TypeScript, and turbine's stream over it: block b of the stream (seed, offset) is
 * philox(counter = offset + b, key = seed), four words per block, exactly as the native
 * kernels draw them (native/random.cc). The tests check it against Random123's known answers.
 */

const M0 = 0xd2511f53,
  M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9,
  W1 = 0xbb67ae85;

/** The high 32 bits of the 64-bit product of two unsigned 32-bit words, in 16-bit pieces. */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff,
    aHi = a >>> 16,
    bLo = b & 0xffff,
    bHi = b >>> 16;
  const lh = aLo * bHi,
    hl = aHi * bLo;
  const carry = (((aLo * bLo) >>> 16) + (lh & 0xffff) + (hl & 0xffff)) >>> 16;
  return (aHi * bHi + (lh >>> 16) + (hl >>> 16) + carry) >>> 0;
}

/** Writes the block of counter (c0..c3) and key (k0, k1) into out[at..at+3]. */
function block(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array, at: number): void {
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, c0),
      lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2),
      lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c1 = lo1;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[at] = c0;
  out[at + 1] = c1;
  out[at + 2] = c2;
  out[at + 3] = c3;
}

/**
 * One Philox4x32-10 block: four counter words and two key words to four output words.
 *
 * @example
 * philox4x32_10([0, 0, 0, 0], [0, 0]); // [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
 */
export function philox4x32_10(counter: readonly number[], key: readonly number[]): number[] {
  const out = new Uint32Array(4);
  const [c0 = 0, c1 = 0, c2 = 0, c3 = 0] = counter;
  const [k0 = 0, k1 = 0] = key;
  block(c0 >>> 0, c1 >>> 0, c2 >>> 0, c3 >>> 0, k0 >>> 0, k1 >>> 0, out, 0);
  return Array.from(out);
}

/**
 * The first `count` words of the stream (seed, offset): block b is philox(counter = offset + b
 * as a 64-bit number in the low two words, key = seed as a 64-bit number).
 *
 * @example
 * streamWordArray(0, 0, 2); // Uint32Array [0x6627e8d5, 0xe169c58d]
 */
export function streamWordArray(seed: number, offset: number, count: number): Uint32Array {
  const blocks = Math.ceil(count / 4);
  const out = new Uint32Array(blocks * 4);
  const k0 = seed % 2 ** 32,
    k1 = Math.floor(seed / 2 ** 32);
  for (let b = 0; b < blocks; b++) {
    const c = offset + b;
    block(c % 2 ** 32, Math.floor(c / 2 ** 32), 0, 0, k0, k1, out, 4 * b);
  }
  return out.subarray(0, count);
}

/** streamWordArray's words as a plain array. @example streamWords(0, 0, 1); // [0x6627e8d5] */
export function streamWords(seed: number, offset: number, count: number): number[] {
  return Array.from(streamWordArray(seed, offset, count));
}
