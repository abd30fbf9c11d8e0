import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { empty, zeros } from "../../src/tensor/create.js";
import { kernels } from "../../src/backends/index.js";
import { defaultGenerator, Generator, manualSeed, normal_, rand, randint, randn, uniform_ } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { philox4x32_10, streamWords } from "../helpers/philox.js";

const N = 100_000;
/** Statistical bounds are 6 standard errors: a correct generator fails one with p ≈ 2e-9. */
const Z = 6;

function mean(v: readonly number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}

function variance(v: readonly number[]): number {
  const m = mean(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
}

/** Correlation of each element with the next: neighbours come from one Philox block. */
function lag1Correlation(v: readonly number[]): number {
  const m = mean(v),
    s = variance(v);
  let c = 0;
  for (let i = 0; i + 1 < v.length; i++) c += (v[i]! - m) * (v[i + 1]! - m);
  return c / (v.length - 1) / s;
}

function assertWithin(actual: number, expected: number, bound: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= bound, `${what}: ${actual}, expected ${expected} ± ${bound}`);
}

/** Runs fn with the given OpenMP thread count on this thread, restoring the previous one. */
function withThreads<T>(threads: number, fn: () => T): T {
  const previous = kernels.getNumThreads();
  kernels.setNumThreads(threads);
  try {
    return fn();
  } finally {
    kernels.setNumThreads(previous);
  }
}

const values = (make: () => Tensor): number[] => tidy(() => make().toArray());

describe("Philox4x32-10", () => {
  test("the reference matches Random123's known answers", () => {
    const kat: [number[], number[], number[]][] = [
      [
        [0, 0, 0, 0],
        [0, 0],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
      ],
      [
        [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
        [0xffffffff, 0xffffffff],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
      ],
      [
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
      ],
    ];
    for (const [counter, key, expected] of kat) assert.deepEqual(philox4x32_10(counter, key), expected);
  });

  test("the native stream at counter 0, key 0 is the known answer", () => {
    const words = tidy(() => Array.from(randint(-(2 ** 31), 2 ** 31, [4], { generator: new Generator(0) }).data, (v) => (v + 2 ** 31) >>> 0));
    assert.deepEqual(words, [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  });

  test("the native stream equals the reference at seeds and offsets using every key and counter word", () => {
    for (const [seed, offset] of [
      [0, 0],
      [42, 7],
      [2 ** 53 - 1, 2 ** 32 - 3],
      [0x123456789ab, 2 ** 40 + 5],
    ] as const) {
      const count = 37;
      const g = new Generator(seed).setState({ seed, offset });
      const words = tidy(() => Array.from(randint(-(2 ** 31), 2 ** 31, [count], { generator: g }).data, (v) => (v + 2 ** 31) >>> 0));
      assert.deepEqual(words, streamWords(seed, offset, count), `seed ${seed}, offset ${offset}`);
    }
  });

  test("rand keeps exactly as many top bits of each word as the dtype's significand", () => {
    const words = streamWords(9, 0, 10);
    const bits = { float32: 24, bfloat16: 8, float16: 11 } as const;
    for (const [dtype, b] of Object.entries(bits)) {
      const got = values(() => rand([10], { dtype: dtype as keyof typeof bits, generator: new Generator(9) }));
      assert.deepEqual(
        got,
        words.map((w) => Math.floor(w / 2 ** (32 - b)) / 2 ** b),
        dtype,
      );
    }
  });

  test("randn is Box–Muller on word pairs", () => {
    const w = streamWords(5, 0, 12);
    const expected: number[] = [];
    for (let i = 0; i < 12; i += 2) {
      const r = Math.sqrt(-2 * Math.log((w[i]! + 1) / 2 ** 32)),
        theta = (2 * Math.PI * w[i + 1]!) / 2 ** 32;
      expected.push(r * Math.cos(theta), r * Math.sin(theta));
    }
    const got = values(() => randn([12], { generator: new Generator(5) }));
    got.forEach((v, i) => assertWithin(v, expected[i]!, 1e-6 * Math.max(1, Math.abs(expected[i]!)), `element ${i}`));
  });
});

describe("Generator", () => {
  test("the same seed gives the same values; different seeds differ", () => {
    const a = values(() => randn([64], { generator: new Generator(1) }));
    const b = values(() => randn([64], { generator: new Generator(1) }));
    const c = values(() => randn([64], { generator: new Generator(2) }));
    assert.deepEqual(a, b);
    assert.ok(
      a.some((v, i) => v !== c[i]),
      "seeds 1 and 2 gave the same values",
    );
  });

  test("getState/setState replay exactly, through JSON", () => {
    const g = new Generator(3);
    values(() => rand([10], { generator: g }));
    const saved = JSON.stringify(g.getState());
    const first = values(() => randn([33], { generator: g }));
    g.manualSeed(99);
    values(() => rand([5], { generator: g }));
    g.setState(JSON.parse(saved));
    assert.deepEqual(
      values(() => randn([33], { generator: g })),
      first,
    );
  });

  test("each call reserves ceil(n / 4) blocks, so successive calls continue one stream", () => {
    const g = new Generator(11);
    const a = values(() => rand([5], { generator: g }));
    assert.deepEqual(g.getState(), { seed: 11, offset: 2 });
    const b = values(() => rand([3], { generator: g }));
    assert.deepEqual(g.getState(), { seed: 11, offset: 3 });
    const whole = values(() => rand([12], { generator: new Generator(11) }));
    assert.deepEqual([...a, ...b], [...whole.slice(0, 5), ...whole.slice(8, 11)]);
  });

  test("manualSeed seeds this thread's default generator", () => {
    manualSeed(123);
    assert.deepEqual(defaultGenerator().getState(), { seed: 123, offset: 0 });
    const a = values(() => rand([9]));
    assert.deepEqual(
      a,
      values(() => rand([9], { generator: new Generator(123) })),
    );
    assert.deepEqual(defaultGenerator().getState(), { seed: 123, offset: 3 });
  });

  test("values do not depend on the OpenMP thread count", () => {
    // Odd and above the kernels' parallel grain, so threads split it unevenly mid-block.
    const n = 200_003;
    const run = (): number[][] =>
      [
        () => rand([n], { generator: new Generator(8) }),
        () => randn([n], { generator: new Generator(8), dtype: "bfloat16" }),
        () => randint(-5, 1000, [n], { generator: new Generator(8) }),
      ].map(values);
    const one = withThreads(1, run);
    assert.deepEqual(withThreads(2, run), one);
    assert.deepEqual(withThreads(3, run), one);
  });

  test("bad seeds and states are rejected with the value", () => {
    assert.throws(() => manualSeed(-1), /manualSeed: seed must be a non-negative safe integer, got -1/);
    assert.throws(() => new Generator(1.5), /Generator: seed .* got 1.5/);
    assert.throws(() => new Generator(2 ** 53), /got 9007199254740992/);
    assert.throws(() => new Generator(0).setState({ seed: 1, offset: -2 }), /setState: offset .* got -2/);
    assert.throws(() => new Generator(0).setState({ seed: NaN, offset: 0 }), /setState: seed .* got NaN/);
    assert.throws(() => new Generator(0).setState({ seed: 0, offset: 2 ** 53 - 1 }).reserve(8), /exhausted/);
  });
});

describe("distributions", () => {
  test("uniform [0, 1): mean, variance, range and independence of neighbours", () => {
    const u = values(() => rand([N], { generator: new Generator(21) }));
    assertWithin(mean(u), 0.5, Z * Math.sqrt(1 / 12 / N), "mean");
    // Var of (u − ½)² is 1/80 − 1/144.
    assertWithin(variance(u), 1 / 12, Z * Math.sqrt((1 / 80 - 1 / 144) / N), "variance");
    assertWithin(lag1Correlation(u), 0, Z / Math.sqrt(N), "lag-1 correlation");
    assert.ok(Math.min(...u) >= 0 && Math.max(...u) < 1);
    for (const dtype of ["bfloat16", "float16"] as const) {
      const low = values(() => rand([N], { dtype, generator: new Generator(22) }));
      assert.ok(Math.min(...low) >= 0 && Math.max(...low) < 1, `${dtype} range`);
      assertWithin(mean(low), 0.5, Z * Math.sqrt(1 / 12 / N) + 2 ** -9, `${dtype} mean`);
    }
  });

  test("standard normal: mean, standard deviation, mass within 1σ, independence of pairs", () => {
    const z = values(() => randn([N], { generator: new Generator(31) }));
    assertWithin(mean(z), 0, Z / Math.sqrt(N), "mean");
    // Var of z² is 2, so the sample variance has standard error sqrt(2/N).
    assertWithin(variance(z), 1, Z * Math.sqrt(2 / N), "variance");
    const p = 0.6826894921370859;
    assertWithin(z.filter((v) => Math.abs(v) < 1).length / N, p, Z * Math.sqrt((p * (1 - p)) / N), "within 1σ");
    assertWithin(lag1Correlation(z), 0, Z / Math.sqrt(N), "lag-1 correlation");
  });

  test("uniform_ and normal_ fill in place with their parameters", () => {
    tidy(() => {
      const t = empty([N]);
      assert.equal(uniform_(t, -3, 5, new Generator(41)), t);
      const u = t.toArray();
      assert.ok(Math.min(...u) >= -3 && Math.max(...u) < 5);
      assertWithin(mean(u), 1, Z * 8 * Math.sqrt(1 / 12 / N), "uniform_ mean");
      normal_(t, 2, 0.5, new Generator(42));
      const z = t.toArray();
      assertWithin(mean(z), 2, (Z * 0.5) / Math.sqrt(N), "normal_ mean");
      assertWithin(Math.sqrt(variance(z)), 0.5, Z * 0.5 * Math.sqrt(1 / (2 * N)), "normal_ std");
    });
  });

  test("randint: every value in [low, high) about equally often", () => {
    const k = 7;
    const v = tidy(() => Array.from(randint(-3, -3 + k, [N], { generator: new Generator(51) }).data));
    const counts = new Array<number>(k).fill(0);
    for (const x of v) {
      assert.ok(x >= -3 && x < -3 + k, `value ${x} out of range`);
      counts[x + 3]!++;
    }
    const p = 1 / k;
    for (const c of counts) assertWithin(c / N, p, Z * Math.sqrt((p * (1 - p)) / N), "bucket frequency");
  });

  test("bad arguments name the function and the value", () => {
    tidy(() => {
      assert.throws(() => rand([2], { dtype: "int32" }), /rand: dtype must be floating, got int32/);
      assert.throws(() => randn([2, -1]), /randn: invalid shape \[2, -1\]/);
      assert.throws(() => randint(5, 5, [3]), /randint: .* got \[5, 5\)/);
      assert.throws(() => randint(0, 2 ** 31 + 1, [3]), /randint: .* got \[0, 2147483649\)/);
      assert.throws(() => uniform_(zeros([2], { dtype: "int32" }), 0, 1), /uniform_: expected a floating tensor, got int32/);
      assert.throws(() => uniform_(zeros([2]), 1, 0), /uniform_: low 1 exceeds high 0/);
      assert.throws(() => normal_(zeros([2]), 0, -1), /normal_: std must be >= 0, got -1/);
      assert.throws(() => normal_(zeros([2]), NaN, 1), /normal_: mean must be a finite number, got NaN/);
      assert.throws(() => kernels.randomUniform(0, new Float32Array(4), -1, 0, 0, 1), /randomUniform: seed .* got -1/);
      assert.throws(() => kernels.randomInt(new Int32Array(4), 0, 0, 3, 2), /randomInt: bounds .* got \[3, 2\)/);
    });
  });
});
