/**
 * Matmul throughput: turbine's public matmul(a, b) against the same oneDNN primitive called
 * from plain C++ (bench/native/onednn_matmul.cc), so the ratio is what turbine's layers
 * (N-API crossing, argument checks, primitive cache, output allocation from the pool) cost.
 *
 * For each shape (M×K·K×N: 256³, 1024³, 4096×1024×1024) and dtype (f32, bf16) it alternates
 * the two sides for `--rounds` rounds (which side goes first alternates too); each side warms
 * up, then times a fixed number of calls one by one. It prints GFLOP/s = 2·M·N·K / median
 * seconds over all timed calls of a side, their ratio, and the range of the per-round ratios.
 * turbine's output is disposed after every call, so its buffer comes back from the pool.
 * Both sides run with the same OpenMP thread count (`--threads`, default 2).
 *
 *   npx tsc -p . && node dist/bench/matmul.js [--threads N] [--rounds N] [--json]
 *
 * The C++ program is compiled on first use (g++ -O3 -march=native -fopenmp, -ldnnl) into
 * build/bench/ and rebuilt when its source is newer.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { matmul, tensor, type Tensor } from "../src/index.js";
import { benchOptions, median, now, report, warmUp } from "./harness.js";

interface Shape {
  m: number;
  k: number;
  n: number;
  /** Timed calls per side per round: about 0.1–0.3 s of work at this machine's speeds. */
  repeats: number;
}

const SHAPES: Shape[] = [
  { m: 256, k: 256, n: 256, repeats: 200 },
  { m: 1024, k: 1024, n: 1024, repeats: 20 },
  { m: 4096, k: 1024, n: 1024, repeats: 6 },
];
const DTYPES = [
  { name: "f32", dtype: "float32" },
  { name: "bf16", dtype: "bfloat16" },
] as const;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const source = join(root, "bench", "native", "onednn_matmul.cc");
const program = join(root, "build", "bench", "onednn_matmul");

/** Compiles the raw oneDNN program unless an up-to-date binary exists. */
function buildProgram(): void {
  if (existsSync(program) && statSync(program).mtimeMs >= statSync(source).mtimeMs) return;
  mkdirSync(dirname(program), { recursive: true });
  console.error(`compiling ${program}`);
  execFileSync("g++", ["-std=c++17", "-O3", "-march=native", "-fopenmp", source, "-o", program, "-ldnnl"], { stdio: "inherit" });
}

/** Runs the raw oneDNN program once: its own warm-up, then `repeats` timed calls. */
function rawSeconds(shape: Shape, dtype: string, threads: number): number[] {
  const args = ["--m", shape.m, "--k", shape.k, "--n", shape.n, "--dtype", dtype, "--repeats", shape.repeats].map(String);
  const out = execFileSync(program, args, { env: { ...process.env, OMP_NUM_THREADS: String(threads) }, encoding: "utf8" });
  const line = JSON.parse(out.trim()) as { threads: number; seconds: number[] };
  if (line.threads !== threads) throw new Error(`matmul bench: the oneDNN program ran ${line.threads} threads, expected ${threads}`);
  return line.seconds;
}

/**
 * Whether raw oneDNN multiplies `dtype` on this CPU: Debian's 2.6 has no bf16 matmul without
 * AVX-512 (Zen 3), where turbine computes bf16 through f32 and there is no twin to hold it to.
 */
function oneDnnRuns(dtype: string, threads: number): boolean {
  try {
    rawSeconds({ m: 16, k: 16, n: 16, repeats: 1 }, dtype, threads);
    return true;
  } catch {
    console.error(`matmul bench: raw oneDNN has no ${dtype} matmul on this CPU; ${dtype} rows skipped`);
    return false;
  }
}

/** Uniform values in [-1, 1) from a fixed seed, so every run multiplies the same matrices. */
function randomTensor(shape: number[], dtype: "float32" | "bfloat16", seed: number): Tensor {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let s = seed >>> 0;
  for (let i = 0; i < values.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    values[i] = (s >>> 0) / 2 ** 31 - 1;
  }
  return tensor(values, { shape, dtype });
}

/** Timed calls of turbine's matmul, after the same warm-up rule as the C++ program. */
function turbineSeconds(a: Tensor, b: Tensor, repeats: number): number[] {
  const call = (): void => matmul(a, b).dispose();
  warmUp(call);
  const seconds: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = now();
    call();
    seconds.push(now() - t0);
  }
  return seconds;
}

function main(): void {
  const { threads, json, ints } = benchOptions("matmul", { rounds: 5 });
  const rounds = ints.rounds!;
  buildProgram();
  const rows: Record<string, unknown>[] = [];
  const dtypes = DTYPES.filter(({ name }) => name === "f32" || oneDnnRuns(name, threads));
  for (const shape of SHAPES) {
    for (const { name, dtype } of dtypes) {
      const a = randomTensor([shape.m, shape.k], dtype, 0x9e3779b9);
      const b = randomTensor([shape.k, shape.n], dtype, 0x85ebca6b);
      const ours: number[] = [];
      const raw: number[] = [];
      const roundRatios: number[] = [];
      for (let r = 0; r < rounds; r++) {
        let t: number[], o: number[];
        if (r % 2 === 0) {
          t = turbineSeconds(a, b, shape.repeats);
          o = rawSeconds(shape, name, threads);
        } else {
          o = rawSeconds(shape, name, threads);
          t = turbineSeconds(a, b, shape.repeats);
        }
        ours.push(...t);
        raw.push(...o);
        roundRatios.push(median(o) / median(t));
      }
      a.dispose();
      b.dispose();
      const gflop = (2 * shape.m * shape.n * shape.k) / 1e9;
      const turbine = gflop / median(ours);
      const onednn = gflop / median(raw);
      rows.push({
        shape: `${shape.m}×${shape.k}×${shape.n}`,
        m: shape.m,
        k: shape.k,
        n: shape.n,
        dtype: name,
        threads,
        rounds,
        repeats: shape.repeats,
        turbineGflops: turbine,
        onednnGflops: onednn,
        ratio: turbine / onednn,
        roundRatioMin: Math.min(...roundRatios),
        roundRatioMax: Math.max(...roundRatios),
      });
      if (!json) console.error(`done ${shape.m}×${shape.k}×${shape.n} ${name}`);
    }
  }
  if (!json) console.log(`matmul, M×K×N, ${threads} thread(s), ${rounds} alternating rounds; GFLOP/s from median seconds per call`);
  report(
    rows,
    [
      ["shape", "shape"],
      ["dtype", "dtype"],
      ["turbineGflops", "turbine GFLOP/s"],
      ["onednnGflops", "oneDNN GFLOP/s"],
      ["ratio", "ratio"],
      ["roundRatioMin", "round min"],
      ["roundRatioMax", "round max"],
    ],
    json,
  );
}

main();
