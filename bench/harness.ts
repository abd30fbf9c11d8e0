/**
 * What the benchmarks share: command-line options, medians, a warm-up rule and the table they
 * print. Not a benchmark itself; see bench/README.md for how to run them.
 */
import { parseArgs } from "node:util";

import { kernels } from "../src/backends/index.js";
import { startThreads } from "../src/parallel/threads/spawn.js";

/** What a rank of a job bench returns: tokens trained on, seconds taken, compiled replays among its steps. */
export interface RankThroughput {
  tokens: number;
  seconds: number;
  replays: number;
}

export interface BenchOptions<K extends string = string> {
  threads: number;
  json: boolean;
  /** Benchmark-specific integer options, by name. */
  ints: Record<K, number>;
  /** Benchmark-specific comma-separated lists, by name (each its default when not given). */
  lists: Record<string, string[]>;
  /** Benchmark-specific switches, by name: true when given. */
  flags: Record<string, boolean>;
}

/**
 * Parses `--threads N` (default 2, applied to this thread's OpenMP team at once), `--json`,
 * the benchmark's own integer options and comma-separated lists, given with their defaults
 * (a list's entries must be among its defaults), and its switches.
 * @example const { threads, ints } = benchOptions("matmul", { rounds: 5 });
 * @example const { lists } = benchOptions("compression", {}, { kinds: ["none", "topk"] });
 * @example const { flags } = benchOptions("ddp", { rounds: 5 }, {}, ["compile"]); // flags.compile
 */
export function benchOptions<K extends string>(
  name: string,
  ints: Record<K, number>,
  lists: Record<string, readonly string[]> = {},
  switches: readonly string[] = [],
): BenchOptions<K> {
  const options: Record<string, { type: "string" | "boolean" }> = { threads: { type: "string" }, json: { type: "boolean" } };
  for (const key of [...Object.keys(ints), ...Object.keys(lists)]) options[key] = { type: "string" };
  for (const key of switches) options[key] = { type: "boolean" };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ options, strict: true }).values;
  } catch (error) {
    const known = [
      "--threads N",
      "--json",
      ...Object.keys(ints).map((k) => `--${k} N`),
      ...Object.keys(lists).map((k) => `--${k} a,b`),
      ...switches.map((k) => `--${k}`),
    ].join(" ");
    throw new Error(`${name}: ${(error as Error).message}; options: ${known}`);
  }
  const int = (key: string, fallback: number): number => {
    const text = values[key];
    if (text === undefined) return fallback;
    const v = Number(text);
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name}: --${key} must be a positive integer, got ${String(text)}`);
    return v;
  };
  const threads = int("threads", 2);
  kernels.setNumThreads(threads);
  const parsed = {} as Record<K, number>;
  for (const [key, fallback] of Object.entries(ints) as [K, number][]) parsed[key] = int(key, fallback);
  const parsedLists: Record<string, string[]> = {};
  for (const [key, allowed] of Object.entries(lists)) {
    const text = values[key];
    const chosen = typeof text === "string" ? text.split(",") : [...allowed];
    const unknown = chosen.filter((c) => !allowed.includes(c));
    if (unknown.length > 0) throw new RangeError(`${name}: --${key} ${unknown.join(",")}: not among ${allowed.join(", ")}`);
    parsedLists[key] = chosen;
  }
  const flags = Object.fromEntries(switches.map((key) => [key, values[key] === true]));
  return { threads, json: values.json === true, ints: parsed, lists: parsedLists, flags };
}

/** The median of a non-empty list. @example median([3, 1, 2]) // 2 */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Seconds since an arbitrary origin, at nanosecond resolution. @example const t0 = now(); */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/**
 * Seconds per call of `call` over one batch of `calls` calls.
 * @example const us = secondsPerCall(() => add(a, b).dispose(), 20000) * 1e6;
 */
export function secondsPerCall(call: () => void, calls: number): number {
  const t0 = now();
  for (let i = 0; i < calls; i++) call();
  return (now() - t0) / calls;
}

/**
 * Seconds of each call of `run(i)` for `count` variants over `rounds` rounds, the variants taking
 * turns call by call and which goes first turning with the round, so drift hits each alike.
 * @example const [plain, fused] = alternatingSeconds(2, 7, (i) => (i === 0 ? plain() : fused()));
 */
export function alternatingSeconds(count: number, rounds: number, run: (variant: number) => void): number[][] {
  const times: number[][] = Array.from({ length: count }, () => []);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < count; j++) {
      const i = (j + r) % count;
      const t0 = now();
      run(i);
      times[i]!.push(now() - t0);
    }
  }
  return times;
}

/**
 * Calls fn at least `calls` times and for at least `seconds`, so caches, primitives and the
 * OpenMP team are warm before timing. Both sides of a comparison use the same rule.
 * @example warmUp(() => matmul(a, b).dispose());
 */
export function warmUp(fn: () => void, calls = 3, seconds = 0.2): void {
  const start = now();
  for (let i = 0; i < calls || now() - start < seconds; i++) fn();
}

/**
 * Prints rows as JSON lines (`--json`) or as an aligned text table of the given columns.
 * @example report([{ op: "add", us: 1.2 }], [["op", "op"], ["us", "µs/call"]], false);
 */
export function report(rows: readonly Record<string, unknown>[], columns: readonly [key: string, title: string][], json: boolean): void {
  if (json) {
    for (const row of rows) console.log(JSON.stringify(row));
    return;
  }
  const cells = [columns.map(([, title]) => title), ...rows.map((row) => columns.map(([key]) => format(row[key])))];
  const widths = columns.map((_, c) => Math.max(...cells.map((line) => line[c]!.length)));
  for (const line of cells) console.log(line.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "));
}

function format(value: unknown): string {
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/**
 * A bench's child mode: runs `module` on `size` worker threads × 1 thread (each rank returns the
 * tokens it trained on and the seconds it took, and how many of its steps were compiled replays)
 * and prints the job's tokens/s and replays as one JSON line.
 * @example await printJobThroughput(2, new URL("./ddp_rank.js", import.meta.url), { steps: 20, warmup: 5 });
 */
export async function printJobThroughput(size: number, module: URL, args: unknown): Promise<void> {
  const job = startThreads({ size, threadsPerWorker: 1, module, args });
  let tokens = 0,
    seconds = 0,
    replays = 0;
  for (const o of await job.done) {
    if (!o.ok) throw o.error;
    const r = o.result as RankThroughput;
    tokens += r.tokens;
    seconds = Math.max(seconds, r.seconds);
    replays += r.replays;
  }
  process.stdout.write(`${JSON.stringify({ throughput: tokens / seconds, unit: "tokens/s", replays })}\n`);
}
