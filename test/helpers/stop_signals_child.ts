/**
 * A stand-in for a training process in test/train/stop_signals.test.ts: watches the stop
 * signals, prints "ready PID", then spins synchronously (as the training loop does, so only the
 * native flag can see a signal), printing "stop NAME CODE" once it sees one. With the argument
 * "unwatched" it puts the previous handlers back before spinning.
 */
import { isatty } from "node:tty";

import { stopSignalReceived, watchStopSignals } from "../../src/train/stop_signals.js";

const unwatch = watchStopSignals([1, 2].filter((fd) => isatty(fd)));
if (process.argv[2] === "unwatched") unwatch();
process.stdout.write(`ready ${process.pid}\n`);
let seen = false;
const deadline = Date.now() + 60_000;
while (Date.now() < deadline) {
  const stop = stopSignalReceived();
  if (stop && !seen) {
    seen = true;
    process.stdout.write(`stop ${stop.name} ${stop.exitCode}\n`);
  }
}
process.exit(3);
