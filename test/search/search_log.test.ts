import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { readSearchLog, SearchLogError } from "../../src/search/search_log.js";

const dir = mkdtempSync(join(tmpdir(), "turbine-search-log-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("search.jsonl: absent or empty is no search; a cut last line is dropped; a file with no whole line is refused, never taken for none", () => {
  const path = join(dir, "search.jsonl");
  assert.equal(readSearchLog(path), null, "absent");
  writeFileSync(path, "");
  assert.equal(readSearchLog(path), null, "empty");
  const settings = `${JSON.stringify({ event: "search", settings: { scheduler: "asha", trials: 4 } })}\n`;
  const start = JSON.stringify({ event: "start", job: { trial: 0, fromStep: 0, toStep: 10 } });
  writeFileSync(path, settings + start.slice(0, 20));
  assert.deepEqual(readSearchLog(path), { settings: { scheduler: "asha", trials: 4 }, events: [] }, "the start line being written is dropped");
  // The settings' line cut short: a search was here, so starting a new one over it would retrain its trials.
  writeFileSync(path, settings.slice(0, 30));
  assert.throws(
    () => readSearchLog(path),
    (e: unknown) => e instanceof SearchLogError && /holds no whole line, not even the search's settings/.test(e.message),
  );
});
