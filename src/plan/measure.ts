import { closeSync, fsyncSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

import { causalSelfAttention } from "../ops/attention.js";
import { add } from "../ops/binary.js";
import { cast } from "../ops/cast.js";
import { matmul } from "../ops/matmul.js";
import { adamStepInPlace } from "../ops/optimizer_kernels.js";
import { startThreads } from "../parallel/threads/spawn.js";
import { zeros } from "../tensor/create.js";
import { randn } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Link } from "./cluster.js";

/** One rank's measured kernel throughput at one OpenMP thread count. */
export interface KernelRates {
  /** FLOP/s of an M × K · K × N product (M = 2048, K = N = size) per compute dtype, by size. */
  matmul: { float32: { size: number; flops: number }[]; bfloat16: { size: number; flops: number }[] };
  /** FLOP/s of the fused causal attention forward (T = 256, width 256, 4 heads). */
  attention: { float32: number; bfloat16: number };
  /** Elements read and written per second by an element-wise add of 1M elements. */
  elementwise: number;
  /** Parameter elements per second of the fused AdamW step. */
  optimizer: number;
  /** Seconds of one op call on a 1-element tensor: the framework's fixed cost per kernel. */
  kernelCall: number;
}

/**
 * The seconds fn takes when the machine lets it: the 25th percentile of repeated calls lasting
 * about `seconds` in all (at least 8), after two warm-up calls. A quantile below the median
 * leaves out the calls another process slowed down, so a calibration on a busy machine still
 * says what the kernels can do.
 *
 * @example fastSeconds(() => matmul(a, b).dispose())   // 0.0021
 */
export function fastSeconds(fn: () => void, seconds = 0.1): number {
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
  return samples[Math.floor(samples.length / 4)]!;
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

function attentionRate(dtype: "float32" | "bfloat16"): number {
  const [batch, T, d] = [4, 256, 256];
  const qkv32 = randn([batch, T, 3 * d]);
  const qkv = dtype === "float32" ? qkv32 : cast(qkv32, dtype);
  const seconds = fastSeconds(disposing(() => causalSelfAttention(qkv, 4)));
  for (const t of new Set([qkv, qkv32])) t.dispose();
  return (2 * batch * T * T * d) / seconds;
}

/**
 * Times the kernel classes the step-time model adds up, on the current OpenMP thread count:
 * matrix products at three sizes, attention, an element-wise op, AdamW and a tiny op's call.
 *
 * @example kernels.setNumThreads(2); const rates = measureKernels();
 */
export function measureKernels(): KernelRates {
  const n = 1 << 20;
  const x = randn([n]),
    y = randn([n]);
  const elementwise = (3 * n) / fastSeconds(disposing(() => add(x, y)));
  const [p, g, m, v] = [randn([n]), randn([n]), zeros([n]), zeros([n])];
  const hyper = new Float64Array([1e-3, 0.9, 0.999, 1e-8, 0.01, 1, 1]);
  const optimizer = n / fastSeconds(() => adamStepInPlace(p, g, m, v, null, hyper));
  const [one, two] = [randn([1]), randn([1])];
  const kernelCall = fastSeconds(
    disposing(() => add(one, two)),
    0.05,
  );
  for (const t of [x, y, p, g, m, v, one, two]) t.dispose();
  return {
    matmul: { float32: matmulRates("float32"), bfloat16: matmulRates("bfloat16") },
    attention: { float32: attentionRate("float32"), bfloat16: attentionRate("bfloat16") },
    elementwise,
    optimizer,
    kernelCall,
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
