import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

import { repoRoot } from "../helpers/paths.js";
import { missingScript, skipIfMissing } from "../helpers/prerequisites.js";

const child = join(repoRoot(), "dist", "test", "helpers", "stop_signals_child.js");
const noScript = skipIfMissing(missingScript());

/**
 * Runs the child (in a pseudo-terminal through script(1) when `terminal`), sends `signal` when it
 * is ready and again when it has seen the first one (if `twice`); resolves with what it printed
 * and how it ended.
 */
function signalled(signal: NodeJS.Signals, options: { twice: boolean; terminal: boolean; args?: string[] }) {
  const command = [process.execPath, child, ...(options.args ?? [])];
  const proc = options.terminal ? spawn("script", ["-qefc", command.join(" "), "/dev/null"]) : spawn(command[0]!, command.slice(1));
  let output = "";
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) => {
    proc.stdout.on("data", (chunk: Buffer) => {
      const before = output;
      output += chunk.toString();
      const ready = /ready (\d+)/.exec(output);
      if (ready && !/ready/.test(before)) process.kill(Number(ready[1]), signal);
      if (options.twice && /stop /.test(output) && !/stop /.test(before)) process.kill(Number(ready![1]), signal);
    });
    proc.on("exit", (code, sig) => resolve({ code, signal: sig, output }));
  });
}

test("the first SIGINT only sets the flag a synchronous loop polls; the second exits 130 at once", { timeout: 60_000 }, async () => {
  const r = await signalled("SIGINT", { twice: true, terminal: false });
  assert.match(r.output, /stop SIGINT 130\n/);
  assert.equal(r.code, 130);
  assert.doesNotMatch(r.output, /\x1b\[/, "no escape codes where the output is not a terminal");
});

test("on a terminal the second signal shows the cursor and turns line wrap back on before exiting (SIGTERM: 143)", { timeout: 60_000, skip: noScript }, async () => {
  const r = await signalled("SIGTERM", { twice: true, terminal: true });
  assert.match(r.output, /stop SIGTERM 143/);
  assert.match(r.output, /\x1b\[\?25h\x1b\[\?7h/);
  assert.equal(r.code, 143);
});

test("once unwatched, a signal acts as before (Node's default: the process dies by it)", { timeout: 60_000 }, async () => {
  const r = await signalled("SIGTERM", { twice: false, terminal: false, args: ["unwatched"] });
  assert.doesNotMatch(r.output, /stop/);
  assert.equal(r.signal, "SIGTERM");
});
