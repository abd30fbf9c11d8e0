import { closeSync, fsyncSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

import { backward } from "../autograd/backward.js";
import { noGrad } from "../autograd/grad_mode.js";
import { causalSelfAttention } from "../ops/attention.js";
import { add } from "../ops/binary.js";
import { cast } from "../ops/cast.js";
import { linear, matmul } from "../ops/matmul.js";
import { layerNorm } from "../ops/norm.js";
import { AdamW } from "../optim/adamw.js";
import { clipGradNorm } from "../optim/clip.js";
import { startThreads } from "../parallel/threads/spawn.js";
import { ones } from "../tensor/create.js";
import { randn } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Link, PassRates } from "./cluster.js";

/** One rank's measured kernel throughput at one OpenMP thread count. */
export interface KernelRates {
  /** FLOP/s of an M × K · K × N product (M = 2048, K = N = size) per compute dtype, by size. */
  matmul: { float32: { size: number; flops: number }[]; bfloat16: { size: number; flops: number }[] };
  /** A Linear's backward seconds (input and weight gradients) per second of its forward (2048 × 256 · 256 × 256, autograd). */
  matmulBackward: number;
  /** FLOP/s of the fused causal attention forward (width 256, 4 heads) per compute dtype, by context length T. */
  attention: { float32: { size: number; flops: number }[]; bfloat16: { size: number; flops: number }[] };
  /** Attention's backward seconds per second of its forward (T = 256, autograd). */
  attentionBackward: number;
  /** Output elements per second of an add of two 2048 × 256 tensors: forward, and forward with backward (autograd). */
  elementwise: PassRates;
  /** Elements per second of a LayerNorm of 2048 rows of 256: forward, and forward with backward (autograd). */
  normalization: PassRates;
  /** Parameter elements per second of AdamW's step on one tensor of 1M elements. */
  optimizer: number;
  /** Seconds per tensor of AdamW's step on many 1-element tensors: its per-tensor calls and bookkeeping. */
  optimizerCall: number;
  /** Gradient elements per second of clipGradNorm on one tensor of 1M elements, and seconds per tensor on many tiny ones. */
  clip: number;
  clipCall: number;
  /** Seconds of one op call on a 1-element tensor: the framework's fixed cost per kernel. */
  kernelCall: number;
  /** Seconds per op of a chain of 1-element adds run forward and backward: an op's fixed cost in training. */
  autogradCall: number;
}

/**
 * The seconds fn takes when the machine lets it: the `quantile` (default the 25th percentile;
 * 0: the fastest) of repeated calls lasting about `seconds` in all (at least 8), after two
 * warm-up calls. A quantile below the median
 * leaves out the calls another process slowed down, so a calibration on a busy machine still
 * says what the kernels can do.
 *
 * @example fastSeconds(() => matmul(a, b).dispose())   // 0.0021
 */
export function fastSeconds(fn: () => void, seconds = 0.1, quantile = 0.25): number {
  fn();
  fn();
  const samples: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (samples.length < 8 || (performance.now() < end && samples.length < 1000)) {
    const t0 = performance.now();
    fn();
    samples.push((performance.now() - t0) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length * quantile)]!;
}

const disposing = (make: () => Tensor) => (): void => make().dispose();

function matmulRates(dtype: "float32" | "bfloat16"): { size: number; flops: number }[] {
  const m = 2048;
  return [64, 256, 1024].map((size) => {
    const a32 = randn([m, size]),
      b32 = randn([size, size]);
    const [a, b] = dtype === "float32" ? [a32, b32] : [cast(a32, dtype), cast(b32, dtype)];
    const seconds = fastSeconds(disposing(() => matmul(a, b)));
    for (const t of new Set([a, b, a32, b32])) t.dispose();
    return { size, flops: (2 * m * size * size) / seconds };
  });
}

/** FLOP/s of the causal attention forward at each context length (2048 tokens of width 256, 4 heads, in batches of 2048 / T). */
function attentionRates(dtype: "float32" | "bfloat16"): { size: number; flops: number }[] {
  return [64, 256, 1024].map((T) => {
    const [batch, d] = [2048 / T, 256];
    const qkv32 = randn([batch, T, 3 * d]);
    const qkv = dtype === "float32" ? qkv32 : cast(qkv32, dtype);
    const seconds = fastSeconds(disposing(() => causalSelfAttention(qkv, 4)));
    for (const t of new Set([qkv, qkv32])) t.dispose();
    return { size: T, flops: (2 * batch * T * T * d) / seconds };
  });
}

/** Seconds of fn's forward alone and with backward from its output (a gradient of ones), its inputs' gradients dropped after each. */
function passSeconds(inputs: Tensor[], fn: () => Tensor, quantile = 0.25): { forward: number; training: number } {
  const probe = noGrad(fn);
  const seed = ones(probe.shape);
  probe.dispose();
  const forward = fastSeconds(
    disposing(() => noGrad(fn)),
    0.1,
    quantile,
  );
  const training = fastSeconds(
    () => {
      const y = fn();
      backward(y, seed);
      y.dispose();
      for (const t of inputs) {
        t.grad?.dispose();
        t.grad = null;
      }
    },
    0.1,
    quantile,
  );
  seed.dispose();
  return { forward, training };
}

const leaf = (shape: number[]): Tensor => randn(shape, { requiresGrad: true });

/** A Linear's backward over its forward, both with autograd on (the forward records its node as in training). */
function matmulBackwardRatio(): number {
  const [x, w] = [leaf([2048, 256]), leaf([256, 256])];
  // Ratios from the fastest calls: a call another process slowed would skew one side only.
  const forward = fastSeconds(
    disposing(() => linear(x, w)),
    0.1,
    0,
  );
  const { training } = passSeconds([x, w], () => linear(x, w), 0);
  for (const t of [x, w]) t.dispose();
  return Math.max(training - forward, 0) / forward;
}

/** Attention's backward over its forward at T = 256, both with autograd on. */
function attentionBackwardRatio(): number {
  const qkv = leaf([8, 256, 3 * 256]);
  const forward = fastSeconds(
    disposing(() => causalSelfAttention(qkv, 4)),
    0.1,
    0,
  );
  const { training } = passSeconds([qkv], () => causalSelfAttention(qkv, 4), 0);
  qkv.dispose();
  return Math.max(training - forward, 0) / forward;
}

/** Elements per second of an element-wise op and of a row normalization, forward and forward + backward. */
function memoryBoundRates(): { elementwise: PassRates; normalization: PassRates } {
  const [rows, width] = [2048, 256];
  const n = rows * width;
  const [a, b] = [leaf([rows, width]), leaf([rows, width])];
  const [gamma, beta] = [leaf([width]), leaf([width])];
  const rate = (s: { forward: number; training: number }): PassRates => ({ forward: n / s.forward, training: n / s.training });
  const elementwise = rate(passSeconds([a, b], () => add(a, b)));
  const normalization = rate(passSeconds([a, gamma, beta], () => layerNorm(a, [width], gamma, beta)));
  for (const t of [a, b, gamma, beta]) t.dispose();
  return { elementwise, normalization };
}

/** Seconds per op of a chain of `length` tiny adds, forward and backward. */
function autogradCallSeconds(length = 16): number {
  const [x, c] = [leaf([1]), randn([1])];
  const seconds = passSeconds([x], () => {
    let y = x;
    for (let i = 0; i < length; i++) y = add(y, c);
    return y;
  }).training;
  for (const t of [x, c]) t.dispose();
  return seconds / length;
}

/** An optimizer-side pass (a step, clipping) over parameters with gradients: elements per second on one large tensor, seconds per tensor on many tiny ones. */
function parameterPass(make: (params: Tensor[]) => () => void): { rate: number; call: number } {
  const n = 1 << 20;
  const tiny = 64;
  const measure = (params: Tensor[]): number => {
    for (const p of params) p.grad = randn(p.shape);
    const seconds = fastSeconds(make(params));
    for (const p of params) {
      p.grad?.dispose();
      p.dispose();
    }
    return seconds;
  };
  const big = measure([leaf([n])]);
  const small = measure(Array.from({ length: tiny }, () => leaf([1])));
  return { rate: n / big, call: small / tiny };
}

/**
 * Times the kernel classes the step-time model adds up, on the current OpenMP thread count:
 * matrix products at three sizes and a Linear's backward against its forward, attention at
 * three context lengths and its backward against its forward,
 * element-wise ops and LayerNorm forward and backward, AdamW's step and gradient clipping per
 * element and per tensor, and the fixed cost of an op call alone and in training.
 *
 * @example kernels.setNumThreads(2); const rates = measureKernels();
 */
export function measureKernels(): KernelRates {
  const adamw = parameterPass((params) => {
    const optimizer = new AdamW(params, { lr: 1e-3 });
    return () => optimizer.step();
  });
  const clip = parameterPass((params) => () => clipGradNorm(params, 1e9));
  const [one, two] = [randn([1]), randn([1])];
  const kernelCall = fastSeconds(
    disposing(() => add(one, two)),
    0.05,
  );
  for (const t of [one, two]) t.dispose();
  return {
    matmul: { float32: matmulRates("float32"), bfloat16: matmulRates("bfloat16") },
    matmulBackward: matmulBackwardRatio(),
    attention: { float32: attentionRates("float32"), bfloat16: attentionRates("bfloat16") },
    attentionBackward: attentionBackwardRatio(),
    ...memoryBoundRates(),
    optimizer: adamw.rate,
    optimizerCall: adamw.call,
    clip: clip.rate,
    clipCall: clip.call,
    kernelCall,
    autogradCall: autogradCallSeconds(),
  };
}

/**
 * The threads backend's all-reduce between 2 ranks as a ring link: from the medians at 4 KiB
 * (latency) and 16 MiB (bandwidth), with a ring all-reduce of b bytes on n ranks taking
 * 2(n − 1)·latency + 2(n − 1)/n · b / bandwidth.
 *
 * @example const link = await measureThreadsLink();   // { latency: 2e-5, bandwidth: 5e9 }
 */
export async function measureThreadsLink(): Promise<Link> {
  const job = startThreads({ size: 2, module: new URL("./link_rank.js", import.meta.url), args: { sizes: [4096, 16 << 20] }, threadsPerWorker: 1 });
  const outcomes = await job.done;
  const first = outcomes[0]!;
  if (!first.ok) throw first.error;
  const [small, large] = first.result as [number, number];
  // n = 2: 2 latencies and one message of b bytes each way.
  const latency = small / 2;
  const bandwidth = (16 << 20) / Math.max(large - 2 * latency, 1e-9);
  return { latency, bandwidth };
}

/**
 * ZeRO-3's cost per unit and accumulation step beyond its bytes, on 2 ranks of the threads
 * backend: forward and backward of 16 tiny Linear layers (a unit each) under ZeRO-3, less the
 * same under DDP, per layer.
 *
 * @example const perUnit = await measureZero3Unit();   // 1e-4
 */
export async function measureZero3Unit(): Promise<number> {
  const layers = 16;
  const job = startThreads({ size: 2, module: new URL("./zero3_rank.js", import.meta.url), args: { layers, width: 32 }, threadsPerWorker: 1 });
  const outcomes = await job.done;
  const first = outcomes[0]!;
  if (!first.ok) throw first.error;
  const { zero3, ddp } = first.result as { zero3: number; ddp: number };
  return Math.max(zero3 - ddp, 0) / layers;
}

/**
 * Bytes per second of writing 64 MiB to a file in `dir` (flushed to the device) and reading it
 * back: what disk offload's moments move each step.
 *
 * @example measureDisk(tmpdir())   // 1.2e9
 */
export function measureDisk(dir: string): number {
  const path = join(dir, `plan-disk-${process.pid}.bin`);
  const chunk = Buffer.alloc(4 << 20, 1);
  const chunks = 16;
  const t0 = performance.now();
  const fd = openSync(path, "w+");
  try {
    for (let i = 0; i < chunks; i++) writeSync(fd, chunk, 0, chunk.length, i * chunk.length);
    fsyncSync(fd);
    for (let i = 0; i < chunks; i++) readSync(fd, chunk, 0, chunk.length, i * chunk.length);
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  return (2 * chunks * chunk.length) / ((performance.now() - t0) / 1000);
}
