import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { readMetrics, readRun, RunDataError, runFolders } from "../../src/report/run_data.js";
import { ConfigError } from "../../src/train/config_file.js";

const work = mkdtempSync(join(tmpdir(), "turbine-report-data-"));
after(() => rmSync(work, { recursive: true, force: true }));

const train = (step: number) => ({
  type: "train",
  step,
  epoch: 0,
  loss: 2 / step,
  lr: 0.1,
  gradNorm: null,
  throughput: 100,
  dataWait: 0.001,
  trainSeconds: step,
});

/** A run folder of `lines` (strings as written, objects as JSON lines). */
function run(path: string, lines: (string | object)[] | null, extra: Record<string, string> = {}): string {
  const dir = join(work, path);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ model: { kind: "mlp" } }));
  if (lines) writeFileSync(join(dir, "metrics.jsonl"), lines.map((l) => (typeof l === "string" ? l : `${JSON.stringify(l)}\n`)).join(""));
  for (const [file, text] of Object.entries(extra)) writeFileSync(join(dir, file), text);
  return dir;
}

test("a run folder's records: train and eval in order, other record types skipped, the summary when present", () => {
  const dir = run("mlp/version_0", [{ type: "segment", step: 0 }, train(1), { type: "eval", step: 1, loss: 1.5, accuracy: 0.5 }, train(2)], {
    "summary.json": JSON.stringify({ steps: 2, unit: "samples" }),
  });
  const data = readRun(dir);
  assert.equal(data.label, "mlp/version_0");
  assert.deepEqual(
    data.train.map((p) => p.step),
    [1, 2],
  );
  assert.deepEqual(data.eval, [{ step: 1, loss: 1.5, accuracy: 0.5 }]);
  assert.deepEqual(data.summary, { steps: 2, unit: "samples" });
  assert.equal(readRun(run("mlp/version_1", null)).summary, null, "no summary while a run is in progress");
  assert.deepEqual(readRun(join(work, "mlp/version_1")).train, [], "no metrics.jsonl yet: no points");
});

test("a last line without its newline (being written) is left out; a bad line anywhere else names the file and line", () => {
  const torn = run("torn/version_0", [train(1), '{"type":"train","st']);
  assert.equal(readMetrics(join(torn, "metrics.jsonl")).train.length, 1);
  const middle = run("corrupt/version_0", [train(1), '{"type":"train","st\n', train(2)]);
  assert.throws(
    () => readRun(middle),
    (e: Error) => e instanceof RunDataError && /metrics\.jsonl line 2: not a JSON record/.test(e.message),
  );
  const wrong = run("wrong/version_0", [train(1), { ...train(2), loss: "high" }]);
  assert.throws(
    () => readRun(wrong),
    (e: Error) => e instanceof RunDataError && /line 2: a train record's loss is wrong/.test(e.message),
  );
  const untyped = run("untyped/version_0", ["[1, 2]\n"]);
  assert.throws(
    () => readRun(untyped),
    (e: Error) => e instanceof RunDataError && /line 1: expected an object with a "type" field/.test(e.message),
  );
  const badSummary = run("summary/version_0", [train(1)], { "summary.json": "{ steps" });
  assert.throws(
    () => readRun(badSummary),
    (e: Error) => e instanceof RunDataError && /summary\.json: not valid JSON/.test(e.message),
  );
});

test("run folders: a run name's folder stands for its versions; anything else is a ConfigError naming it", () => {
  run("gpt/version_0", []);
  run("gpt/version_2", []);
  mkdirSync(join(work, "gpt", "version_1")); // no config.json: not a run
  assert.deepEqual(runFolders([join(work, "gpt")]), [join(work, "gpt", "version_0"), join(work, "gpt", "version_2")]);
  assert.throws(
    () => runFolders([join(work, "missing")]),
    (e: Error) => e instanceof ConfigError && /missing is not a run folder \(it does not exist\)/.test(e.message),
  );
  mkdirSync(join(work, "empty"));
  assert.throws(() => runFolders([join(work, "empty")]), /empty is not a run folder \(no config\.json in it\)/);
  assert.throws(() => runFolders([]), /no run folder given/);
});
