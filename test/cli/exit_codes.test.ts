import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { describeError, exitCodeFor, UsageError } from "../../src/cli/errors.js";
import { DataFileError } from "../../src/data/data_file_error.js";
import { CollectiveError } from "../../src/parallel/process_group.js";
import { CheckpointError } from "../../src/train/checkpoint.js";
import { ConfigError } from "../../src/train/config_file.js";

test("usage and config errors exit 2 with their message and hint", () => {
  assert.equal(exitCodeFor(new UsageError("bad -n", "see turbine launch --help")), 2);
  assert.equal(describeError(new UsageError("bad -n", "see turbine launch --help")), "bad -n; see turbine launch --help");
  assert.equal(exitCodeFor(new ConfigError("cnn.json: model.kind must be one of ...")), 2);
});

test("a collective that timed out or lost a peer is a failed run (exit 1), told by its message, without a stack", () => {
  const error = new CollectiveError("allReduce", 1, 0, "timed out after 300 s");
  assert.equal(exitCodeFor(error), 1);
  assert.equal(describeError(error), "allReduce on rank 1 (peer rank 0): timed out after 300 s");
  assert.equal(exitCodeFor(new CheckpointError("no valid checkpoint")), 1);
});

test("anything unexpected is a bug (exit 70), printed with its stack so it can be reported", () => {
  const error = new TypeError("x is undefined");
  assert.equal(exitCodeFor(error), 70);
  assert.match(describeError(error), /TypeError: x is undefined\n\s+at /);
});

test("memory a config's sizes cannot get is a failed run (exit 1) that says so; other RangeErrors stay bugs", () => {
  const error = new RangeError("Array buffer allocation failed");
  assert.equal(exitCodeFor(error), 1);
  assert.match(describeError(error), /^out of memory \(Array buffer allocation failed\): .*lower the model's sizes or data\.batchSize$/);
  assert.equal(exitCodeFor(new RangeError("offset is out of bounds")), 70);
});

test("a file operation the system refused is a failed run (exit 1) naming the path and the reason, without a stack", () => {
  let refused: unknown;
  try {
    readdirSync(fileURLToPath(import.meta.url));
  } catch (error) {
    refused = error;
  }
  assert.equal(exitCodeFor(refused), 1);
  assert.equal(describeError(refused), `${fileURLToPath(import.meta.url)}: not a directory (scandir)`);
  const missing = new DataFileError("/data/corpus: no such text file");
  assert.equal(exitCodeFor(missing), 1);
  assert.equal(describeError(missing), "/data/corpus: no such text file");
  // A path-like message alone is not enough: an unclassified Error without one stays a bug.
  assert.equal(exitCodeFor(new Error("/data/corpus: no such text file")), 70);
});
