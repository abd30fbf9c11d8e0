import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";

// Before the fix, a worker terminated while a kernel read its array-of-arrays argument used an
// array entry that napi_get_element had not written: the whole process died with SIGSEGV within
// 20 rounds (seen first as a CI run whose elastic test ended in a segfault). Here the test
// file's own process would die, which node --test reports as this file failing.
test("a worker thread terminated inside a multi-tensor or collective kernel never crashes the process", { timeout: 120_000 }, async () => {
  const rounds = 60;
  for (let round = 0; round < rounds; round++) {
    const worker = new Worker(new URL("../helpers/list_kernel_loop_worker.js", import.meta.url));
    const errors: Error[] = [];
    worker.on("error", (error) => errors.push(error));
    await new Promise((resolve) => worker.once("message", resolve));
    await sleep(Math.random() * 5);
    const code = await worker.terminate();
    assert.equal(code, 1, `round ${round}: a terminated worker exits with code 1`);
    assert.deepEqual(errors, [], `round ${round}`);
  }
});
