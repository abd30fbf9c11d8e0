import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";

import { repoRoot } from "../helpers/paths.js";
import { missingScript, skipIfMissing } from "../helpers/prerequisites.js";

const child = join(repoRoot(), "dist", "test", "helpers", "stop_signals_child.js");
const noScript = skipIfMissing(missingScript());

/**
 * Runs the child (in a pseudo-terminal through script(1) when `terminal`), sends it the first of
 * `signals` when it is ready and the others, 200 ms apart, once it has seen the first; resolves
 * with what it printed and how it ended.
 */
function signalled(signals: NodeJS.Signals[], options: { terminal: boolean; args?: string[] }) {
  const command = [process.execPath, child, ...(options.args ?? [])];
  const proc = options.terminal ? spawn("script", ["-qefc", command.join(" "), "/dev/null"]) : spawn(command[0]!, command.slice(1));
  let output = "";
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) => {
    proc.stdout.on("data", async (chunk: Buffer) => {
      const before = output;
      output += chunk.toString();
      const pid = Number(/ready (\d+)/.exec(output)?.[1]);
      if (pid && !/ready/.test(before)) process.kill(pid, signals[0]!);
      if (/stop /.test(output) && !/stop /.test(before)) {
        for (const signal of signals.slice(1)) {
          await sleep(200);
          process.kill(pid, signal);
        }
      }
    });
    proc.on("exit", (code, sig) => resolve({ code, signal: sig, output }));
  });
}

test("the first SIGINT only sets the flag a synchronous loop polls; the second exits 130 at once", { timeout: 60_000 }, async () => {
  const r = await signalled(["SIGINT", "SIGINT"], { terminal: false });
  assert.match(r.output, /stop SIGINT 130\n/);
  assert.equal(r.code, 130);
  assert.doesNotMatch(r.output, /\x1b\[/, "no escape codes where the output is not a terminal");
});

test("only the same signal again exits: a SIGTERM after a SIGINT (mpirun passing a Ctrl-C on) leaves the loop running", { timeout: 60_000 }, async () => {
  const r = await signalled(["SIGINT", "SIGTERM", "SIGINT"], { terminal: false });
  assert.match(r.output, /stop SIGINT 130\n/);
  assert.equal(r.code, 130, "the second SIGINT ended it, not the SIGTERM (143)");
});

test("on a terminal the second signal shows the cursor and turns line wrap back on before exiting (SIGTERM: 143)", {
  timeout: 60_000,
  skip: noScript,
}, async () => {
  const r = await signalled(["SIGTERM", "SIGTERM"], { terminal: true });
  assert.match(r.output, /stop SIGTERM 143/);
  assert.match(r.output, /\x1b\[\?25h\x1b\[\?7h/);
  assert.equal(r.code, 143);
});

test("once unwatched, a signal acts as before (Node's default: the process dies by it)", { timeout: 60_000 }, async () => {
  const r = await signalled(["SIGTERM"], { terminal: false, args: ["unwatched"] });
  assert.doesNotMatch(r.output, /stop/);
  assert.equal(r.signal, "SIGTERM");
});
