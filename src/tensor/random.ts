import { empty, type TensorOptions } from "./create.js";
import { checkDType, DTYPES, isFloating } from "./dtype.js";
import { kernels } from "../backends/index.js";
import { recordInit } from "./init_recipe.js";
import { checkShape, formatShape } from "./shape.js";
import type { Tensor } from "./tensor.js";

/**
 * Seeded random numbers. The native kernels are counter-based (Philox4x32-10): a draw is a
 * pure function of (seed, offset, index), so a generator is just those two integers and its
 * state is a plain JSON value. Each call reserves a fresh counter range by advancing the
 * offset; results never depend on the thread count.
 */

/** A generator's state: plain numbers, so a checkpoint can save it as JSON. */
export interface GeneratorState {
  seed: number;
  /** Philox blocks used so far; each block gives 4 draws. */
  offset: number;
}

/** Draws per Philox block: a reservation of n draws advances the offset by ceil(n / 4). */
const DRAWS_PER_BLOCK = 4;
/** The default generator's seed (PyTorch's default too): a fresh process is reproducible. */
const DEFAULT_SEED = 67280421310721;

function checkSeed(seed: unknown, where: string): number {
  if (typeof seed !== "number" || !Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`${where}: seed must be a non-negative safe integer, got ${String(seed)}`);
  }
  return seed;
}

/**
 * A stream of random numbers: a seed and the offset of the next unused counter.
 *
 * @example
 * const g = new Generator(42);
 * const state = g.getState();
 * const a = rand([3], { generator: g });
 * g.setState(state);
 * const b = rand([3], { generator: g });   // the same values as a
 */
export class Generator {
  private seedValue: number;
  private offsetValue = 0;

  constructor(seed: number = DEFAULT_SEED) {
    this.seedValue = checkSeed(seed, "Generator");
  }

  /** The key of the stream. */
  get seed(): number {
    return this.seedValue;
  }

  /** The next unused Philox block. */
  get offset(): number {
    return this.offsetValue;
  }

  /** Restarts the stream from `seed`. @example g.manualSeed(0) */
  manualSeed(seed: number): this {
    this.seedValue = checkSeed(seed, "manualSeed");
    this.offsetValue = 0;
    return this;
  }

  /** The state to save. @example const s = g.getState(); */
  getState(): GeneratorState {
    return { seed: this.seedValue, offset: this.offsetValue };
  }

  /** Continues from a saved state. @example g.setState(JSON.parse(saved)) */
  setState(state: GeneratorState): this {
    const offset = state?.offset;
    const seed = checkSeed(state?.seed, "Generator.setState");
    if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`Generator.setState: offset must be a non-negative safe integer, got ${String(offset)}`);
    }
    this.seedValue = seed;
    this.offsetValue = offset;
    return this;
  }

  /**
   * Reserves the counters for `draws` values and returns where they start; the next
   * reservation begins after them.
   * @example const { seed, offset } = g.reserve(x.size);
   */
  reserve(draws: number): GeneratorState {
    if (!Number.isSafeInteger(draws) || draws < 0) throw new RangeError(`Generator.reserve: draws must be a non-negative integer, got ${draws}`);
    const start = this.getState();
    const next = this.offsetValue + Math.ceil(draws / DRAWS_PER_BLOCK);
    if (!Number.isSafeInteger(next)) throw new RangeError(`Generator.reserve: the stream of seed ${this.seedValue} is exhausted`);
    this.offsetValue = next;
    return start;
  }
}

// Module state is per thread: each worker thread loads its own copy of this module.
const threadGenerator = new Generator();

/** This thread's default generator. @example const saved = defaultGenerator().getState(); */
export function defaultGenerator(): Generator {
  return threadGenerator;
}

/**
 * Seeds this thread's default generator and restarts its stream.
 * @example manualSeed(0); const w = randn([784, 1024]);
 */
export function manualSeed(seed: number): Generator {
  return threadGenerator.manualSeed(seed);
}

export interface RandomOptions extends TensorOptions {
  /** The stream to draw from (default: this thread's default generator). */
  generator?: Generator;
}

function floatTensor(shape: readonly number[], options: RandomOptions | undefined, where: string): Tensor {
  checkShape(shape, where);
  const dtype = options?.dtype === undefined ? "float32" : checkDType(options.dtype, where);
  if (!isFloating(dtype)) throw new TypeError(`${where}: dtype must be floating, got ${dtype}`);
  return empty(shape, { ...options, dtype });
}

function requireFloatTarget(t: Tensor, where: string): void {
  if (!isFloating(t.dtype)) throw new TypeError(`${where}: expected a floating tensor, got ${t.dtype} ${formatShape(t.shape)}`);
}

function requireFinite(where: string, values: Record<string, number>): void {
  for (const [name, v] of Object.entries(values)) {
    if (typeof v !== "number" || !Number.isFinite(v)) throw new RangeError(`${where}: ${name} must be a finite number, got ${String(v)}`);
  }
}

/**
 * Fills t in place with values uniform in [low, high) (computed in float32, then rounded to
 * t's dtype, which can round a value up to high as in PyTorch). Not recorded by autograd; a
 * meta tensor records the draw (its counters are reserved all the same).
 * @example uniform_(linear.weight, -bound, bound)
 */
export function uniform_(t: Tensor, low = 0, high = 1, generator: Generator = threadGenerator): Tensor {
  requireFloatTarget(t, "uniform_");
  requireFinite("uniform_", { low, high });
  if (low > high) throw new RangeError(`uniform_: low ${low} exceeds high ${high}`);
  const { seed, offset } = generator.reserve(t.size);
  if (t.isMeta) return recordInit(t, { kind: "uniform", low, high, seed, offset });
  kernels.randomUniform(DTYPES[t.dtype].code, t.data, seed, offset, low, high);
  return t;
}

/**
 * Fills t in place with normal values of the given mean and standard deviation. Not
 * recorded by autograd; a meta tensor records the draw.
 * @example normal_(embedding.weight, 0, 0.02)
 */
export function normal_(t: Tensor, mean = 0, std = 1, generator: Generator = threadGenerator): Tensor {
  requireFloatTarget(t, "normal_");
  requireFinite("normal_", { mean, std });
  if (std < 0) throw new RangeError(`normal_: std must be >= 0, got ${std}`);
  const { seed, offset } = generator.reserve(t.size);
  if (t.isMeta) return recordInit(t, { kind: "normal", mean, std, seed, offset });
  kernels.randomNormal(DTYPES[t.dtype].code, t.data, seed, offset, mean, std);
  return t;
}

/**
 * Values uniform in [0, 1); in every dtype the largest value stays below 1.
 * @example rand([2, 3], { generator: new Generator(7) })
 */
export function rand(shape: readonly number[], options?: RandomOptions): Tensor {
  return uniform_(floatTensor(shape, options, "rand"), 0, 1, options?.generator);
}

/**
 * Standard normal values (mean 0, variance 1).
 * @example randn([784, 1024], { dtype: "bfloat16" })
 */
export function randn(shape: readonly number[], options?: RandomOptions): Tensor {
  return normal_(floatTensor(shape, options, "randn"), 0, 1, options?.generator);
}

/**
 * int32 values uniform in [low, high), with -2^31 <= low < high <= 2^31.
 * @example randint(0, 10, [8])   // class labels
 */
export function randint(low: number, high: number, shape: readonly number[], options?: Pick<RandomOptions, "generator" | "category">): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || low < -(2 ** 31) || high > 2 ** 31 || low >= high) {
    throw new RangeError(`randint: bounds must be integers with -2^31 <= low < high <= 2^31, got [${low}, ${high})`);
  }
  checkShape(shape, "randint");
  const t = empty(shape, { dtype: "int32", category: options?.category ?? "other" });
  const { seed, offset } = (options?.generator ?? threadGenerator).reserve(t.size);
  kernels.randomInt(t.data as Int32Array, seed, offset, low, high);
  return t;
}
