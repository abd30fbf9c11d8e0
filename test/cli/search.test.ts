import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { exitCodeFor } from "../../src/cli/errors.js";
import { turbineProgram } from "../../src/cli/program.js";
import { repoRoot } from "../helpers/paths.js";
import { writeTinyFashion } from "../helpers/tiny_fashion.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const tmp = mkdtempSync(join(tmpdir(), "turbine-search-cli-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const root = writeTinyFashion(join(tmp, "fashion"), { train: 256, test: 100 });
/** A tiny mlp config on the tiny data, with these train fields, written to `name` in the test's folder. */
function tinyConfig(name: string, train: Record<string, number>): string {
  const path = join(tmp, name);
  const data = { kind: "fashion-mnist", root, batchSize: 32, evalBatchSize: 100, cache: "none" };
  writeFileSync(path, JSON.stringify({ model: { kind: "mlp", hidden: [8] }, data, train }));
  return path;
}
const config = tinyConfig("tiny.json", { steps: 6 });
const space = join(tmp, "space.yaml");
writeFileSync(space, "optimizer.lr: { loguniform: [1.0e-3, 1.0e-1] }\n");

test("bad input ends in exit 2 with one line: missing or malformed space, unknown field, bad scheduler", async () => {
  writeFileSync(join(tmp, "bad.yaml"), "optimizer.lr: [1, 2\n");
  writeFileSync(join(tmp, "unknown.yaml"), "optimizer.rate: { uniform: [0, 1] }\n");
  const cases: [string[], RegExp][] = [
    [["--space", join(tmp, "missing.yaml")], /missing\.yaml: cannot read it/],
    [["--space", join(tmp, "bad.yaml")], /bad\.yaml: not valid YAML/],
    [["--space", join(tmp, "unknown.yaml")], /optimizer\.rate: unknown field/],
    [["--space", space, "--scheduler", "bohb"], /--scheduler.*bohb.*random, asha, hyperband, pbt/],
    [["--space", space, "--metric", "accuracy", "--set", "model.kind=gpt"], /./],
    [[], /--space/],
  ];
  for (const [args, pattern] of cases) {
    await assert.rejects(turbineProgram().parseAsync(["search", config, "--out", join(tmp, "never"), ...args], { from: "user" }), (e: Error) => {
      assert.equal(exitCodeFor(e), 2, `${args.join(" ")}: ${e.stack}`);
      assert.match(e.message, pattern);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  }
  assert.ok(!existsSync(join(tmp, "never")), "nothing was written");
});

test("a search folder is continued only by the same search: other settings or --resume of nothing exit 2, a corrupt log exits 1", async () => {
  const other = join(tmp, "other");
  mkdirSync(other);
  writeFileSync(join(other, "search.jsonl"), `${JSON.stringify({ event: "search", settings: { trials: 99 } })}\n`);
  const corrupt = join(tmp, "corrupt");
  mkdirSync(corrupt);
  writeFileSync(join(corrupt, "search.jsonl"), `${JSON.stringify({ event: "search", settings: {} })}\n{not json\n{"event":"start"}\n`);
  const cases: [string[], number, RegExp][] = [
    [["--out", other], 2, /search\.jsonl is a search with other settings \(.*trials.*differ\)/],
    [["--out", join(tmp, "empty"), "--resume"], 2, /--resume: .*empty holds no search\.jsonl to continue/],
    [["--out", corrupt], 1, /search\.jsonl: line 2 is not JSON/],
  ];
  for (const [args, code, pattern] of cases) {
    await assert.rejects(turbineProgram().parseAsync(["search", config, "--space", space, ...args], { from: "user" }), (e: Error) => {
      assert.equal(exitCodeFor(e), code, `${args.join(" ")}: ${e.stack}`);
      assert.match(e.message, pattern);
      return true;
    });
  }
});

test("a search whose every trial fails (here its data is missing) exits 1 naming the first failure", { timeout: 300_000 }, async () => {
  const data = { kind: "fashion-mnist", root: join(tmp, "no-data"), batchSize: 32, cache: "none" };
  const broken = join(tmp, "broken.json");
  writeFileSync(broken, JSON.stringify({ model: { kind: "mlp", hidden: [8] }, data, train: { steps: 2 } }));
  const child = spawnSync(process.execPath, [cli, "search", broken, "--space", space, "--trials", "2", "--scheduler", "random", "--out", join(tmp, "broken")], {
    cwd: tmp,
    encoding: "utf8",
  });
  assert.equal(child.status, 1, child.stderr);
  assert.match(child.stderr, /search: every trial failed \(trial \d: .*no-data/);
  assert.match(child.stdout, /failed: /);
});

/** Runs `turbine search` as a child process; `onLog` sees search.jsonl after each poll and may kill it. */
function search(args: string[], onLog?: (text: string, kill: () => void) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, "search", config, "--space", space, ...args], { cwd: tmp });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => void (stdout += d));
    child.stderr.on("data", (d) => void (stderr += d));
    const log = join(tmp, "out", "search.jsonl");
    const poll = onLog ? setInterval(() => existsSync(log) && onLog(readFileSync(log, "utf8"), () => child.kill("SIGKILL")), 20) : null;
    child.on("close", (code) => {
      if (poll) clearInterval(poll);
      resolve({ code, stdout, stderr });
    });
  });
}

test("a search killed mid-way continues without rerunning a finished segment, and ends with its table", { timeout: 600_000 }, async () => {
  const args = ["--trials", "4", "--scheduler", "asha", "--min-steps", "2", "--out", join(tmp, "out")];
  let before = "";
  const killed = await search(args, (text, kill) => {
    if (before === "" && text.split("\n").filter((l) => l.includes('"event":"result"')).length >= 2) {
      before = text;
      kill();
    }
  });
  assert.equal(killed.code, null, `killed: ${killed.stderr}`);
  const finishedBefore = before
    .split("\n")
    .filter((l) => l.includes('"event":"result"'))
    .map((l) => JSON.parse(l).job);
  const resumed = await search(args);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /continuing the search .*: \d+ segments done/);
  assert.match(resumed.stdout, /^trial\s+optimizer\.lr\s+steps\s+loss\s+accuracy\s+status/);
  assert.match(resumed.stdout, /best: trial \d+; train it again with: turbine train /);
  const events = readFileSync(join(tmp, "out", "search.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
  const key = (job: { trial: number; toStep: number }): string => `${job.trial}→${job.toStep}`;
  const count = (kind: string, k: string): number => events.filter((e) => e.event === kind && key(e.job) === k).length;
  for (const job of finishedBefore) {
    assert.equal(count("start", key(job)), 1, `segment ${key(job)} finished before the kill was started again`);
    assert.equal(count("result", key(job)), 1);
  }
  // Every segment handed out has exactly one result; ASHA on 4 trials with rungs 2, 6: 4 first rungs, 1 promotion.
  const starts = events.filter((e) => e.event === "start").map((e) => key(e.job));
  assert.equal(new Set(starts).size, starts.length);
  for (const k of starts) assert.equal(count("result", k), 1, `segment ${k}`);
  assert.equal(starts.length, 5);
});

test("Ctrl-C stops the running trial after its step with a checkpoint; its segment stays open in search.jsonl (exit 130)", { timeout: 600_000 }, async () => {
  const long = tinyConfig("long.json", { steps: 100000, logEvery: 1 });
  const out = join(tmp, "stopped");
  const metrics = join(out, "trials", "0", "metrics.jsonl");
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, "search", long, "--space", space, "--trials", "2", "--scheduler", "random", "--out", out], { cwd: tmp });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => void (stdout += d));
    child.stderr.on("data", (d) => void (stderr += d));
    // Once the first trial has trained a step, as a user pressing Ctrl-C would.
    const poll = setInterval(() => {
      if (existsSync(metrics) && readFileSync(metrics, "utf8").includes('"type":"train"')) {
        clearInterval(poll);
        child.kill("SIGINT");
      }
    }, 20);
    child.on("close", (code) => {
      clearInterval(poll);
      resolve({ code, stdout, stderr });
    });
  });
  assert.equal(result.code, 130, result.stderr);
  assert.match(result.stderr, /search stopped by SIGINT; the running trials wrote checkpoints/);
  const events = readFileSync(join(out, "search.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    events.map((e) => e.event),
    ["search", "start"],
    "the stopped segment has no result, and no other trial started",
  );
  assert.ok(readdirSync(join(out, "trials", "0", "checkpoints")).some((name) => /^step-\d+$/.test(name)));
});
