// Kernel settings chosen by measurement and cached per CPU model: a choice is measured once and
// then read back, a corrupt cache costs a warning and a new measurement, never a crash, and the
// attention ops run with the block size the cache holds.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

// Before anything measures: this process's cache is a temp folder of its own.
const dir = mkdtempSync(join(tmpdir(), "turbine-kernels-"));
process.env.TURBINE_KERNEL_CACHE_DIR = dir;

const { backendName, kernels } = await import("../../src/backends/index.js");
const { KernelTuner, cpuModelKey } = await import("../../src/backends/native/kernel_tuning.js");
const ops = await import("../../src/ops/index.js");
const { manualSeed, randn } = await import("../../src/tensor/random.js");
const { tidy } = await import("../../src/tensor/scope.js");

/** console.warn's lines while fn runs. */
function warnings(fn: () => void): string[] {
  const lines: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    fn();
  } finally {
    console.warn = original;
  }
  return lines;
}

// Catches a choice measured again on every call or every process, or a key shared between shapes.
test("a choice is measured once, written, and read back by the next process without measuring", () => {
  const path = join(dir, "once.json");
  const runs = new Map<number, number>();
  const slow = (choice: number) => {
    runs.set(choice, (runs.get(choice) ?? 0) + 1);
    const until = performance.now() + (choice === 32 ? 0.2 : 5);
    while (performance.now() < until);
  };
  const tuner = new KernelTuner(path);
  assert.equal(tuner.choose("attention", "shape A", [64, 32, 128], slow), 32);
  assert.deepEqual([...runs.values()], [4, 4, 4], "one warm-up and three timed runs of each candidate");
  assert.equal(tuner.choose("attention", "shape A", [64, 32, 128], slow), 32);
  assert.deepEqual([...runs.values()], [4, 4, 4], "the second call measures nothing");
  assert.deepEqual(JSON.parse(readFileSync(path, "utf8")).choices, { "attention shape A": 32 });
  const never = () => assert.fail("a stored choice was measured again");
  assert.equal(new KernelTuner(path).choose("attention", "shape A", [64, 32, 128], never), 32);
  assert.equal(tuner.choose("attention", "shape B", [64], never), 64, "a single candidate is not measured");
  // A stored choice that is no longer a candidate is measured again.
  assert.equal(
    new KernelTuner(path).choose("attention", "shape A", [64, 128], (c) => slow(c === 128 ? 32 : c)),
    128,
  );
});

// Catches a JSON.parse error escaping, or a cache of the wrong shape read as choices.
test("a corrupt cache is ignored with one warning and rewritten", () => {
  for (const [name, text] of [
    ["truncated", '{"version": 1, "choices": {"attention x": 6'],
    ["wrong shape", '{"version": 1, "choices": [64]}'],
  ] as const) {
    const path = join(dir, `corrupt-${name.replace(" ", "-")}.json`);
    writeFileSync(path, text);
    let choice = 0;
    const lines = warnings(() => {
      choice = new KernelTuner(path).choose("attention", "x", [64, 32], () => {});
    });
    assert.equal(lines.length, 1, `${name}: ${lines.join("; ")}`);
    assert.match(lines[0]!, /^turbine: ignoring the kernel cache .*corrupt.*json \(.+\); its choices are measured again$/);
    assert.ok(choice === 64 || choice === 32);
    assert.deepEqual(JSON.parse(readFileSync(path, "utf8")).choices, { "attention x": choice }, `${name}: rewritten`);
  }
});

// Catches choices kept across a rebuilt addon, whose kernels may rank the candidates differently.
test("a cache written by another addon build is measured again and rewritten for this build", () => {
  const path = join(dir, "builds.json");
  writeFileSync(path, `${JSON.stringify({ version: 1, build: "old", choices: { "attention x": 64 } })}\n`);
  let measured = 0;
  const fastAt32 = (choice: number) => {
    measured++;
    const until = performance.now() + (choice === 32 ? 0.2 : 5);
    while (performance.now() < until);
  };
  assert.equal(new KernelTuner(path, "new").choose("attention", "x", [64, 32], fastAt32), 32);
  assert.equal(measured, 8, "the old build's choice was not used");
  const file = JSON.parse(readFileSync(path, "utf8"));
  assert.equal(file.build, "new");
  assert.deepEqual(file.choices, { "attention x": 32 });
  const never = () => assert.fail("this build's choice was measured again");
  assert.equal(new KernelTuner(path, "new").choose("attention", "x", [64, 32], never), 32);
});

test("the cache file is named by the CPU model", () => {
  assert.match(cpuModelKey(), /^[A-Za-z0-9.-]+$/);
});

// Catches an op that ignores the tuned block size, or tunes even when given one.
test(
  "attention without a block size runs with the cached choice for its shape",
  { skip: backendName !== "native" && "measured on the native backend only" },
  () =>
    tidy(() => {
      manualSeed(3);
      const qkv = randn([2, 40, 3 * 32]);
      const tuned = ops.causalSelfAttention(qkv, 2).toArray();
      const path = join(dir, `kernels-${cpuModelKey()}.json`);
      const choices = JSON.parse(readFileSync(path, "utf8")).choices as Record<string, number>;
      const block = choices[`attention causalSelfAttention float32 2x2x40x16 causal threads ${kernels.getNumThreads()}`];
      assert.ok(block === 64 || block === 32 || block === 128, JSON.stringify(choices));
      assert.deepEqual(tuned, ops.causalSelfAttention(qkv, 2, { blockSize: block }).toArray());
      ops.causalSelfAttention(qkv, 2, { blockSize: 8 });
      // T = 24: every block of 32 or more is one tile, so there is nothing to choose.
      ops.causalSelfAttention(randn([2, 24, 3 * 32]), 2);
      assert.equal(Object.keys(JSON.parse(readFileSync(path, "utf8")).choices).length, 1, "a given block size, or a single candidate, is not tuned");
    }),
);
