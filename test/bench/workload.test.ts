import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

import { repoRoot } from "../helpers/paths.js";

/** One run of bench/workload.js, its JSON result line. */
function workload(args: string[]): Record<string, unknown> {
  const out = execFileSync(process.execPath, [join(repoRoot(), "dist", "bench", "workload.js"), "--workload", "mlp", "--steps", "2", "--json", ...args], {
    encoding: "utf8",
  });
  return JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, unknown>;
}

test("bench workload --compile times replayed steps, and trains the same losses as eager", () => {
  const compiled = workload(["--warmup", "3", "--compile"]);
  const eager = workload(["--warmup", "3"]);
  assert.equal(compiled.compiled, true);
  // Two recorded steps, then every step replays: the 1 left of the warm-up and the 2 timed ones.
  assert.equal(compiled.replays, 3);
  assert.equal(eager.compiled, false);
  assert.equal(eager.replays, undefined);
  const [a, b] = [compiled.final_loss as number, eager.final_loss as number];
  assert.ok(Math.abs(a - b) <= 1e-6 * Math.abs(b), `compiled final loss ${a} against eager ${b}`);
});

test("bench ddp --compile replays each rank's steps under DDP", () => {
  // One 2-rank job of bench/ddp.js's child mode: 3 warm-up steps, 1 timed.
  const script = join(repoRoot(), "dist", "bench", "ddp.js");
  const out = execFileSync(process.execPath, [script, "--workers", "2", "--steps", "1", "--warmup", "3", "--compile"], { encoding: "utf8" });
  const job = JSON.parse(out.trim().split("\n").at(-1)!) as { throughput: number; replays: number };
  // Each rank records its first two steps eagerly and replays the other two (an eager job reports 0).
  assert.equal(job.replays, 2 * 2);
  assert.ok(job.throughput > 0);
});
