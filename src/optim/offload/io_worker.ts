import { readSync, writeSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { type IoRequest, IO_DONE, IO_FAILED, type IoWorkerData, writeIoError } from "./io_protocol.js";

/**
 * The file reads and writes of a StateFile, done in their own thread: the thread that asked is
 * busy computing (or blocked in Atomics.wait) meanwhile, so no callback of its event loop could
 * serve them. Requests run in the order they were posted; each one done adds 1 to the done count.
 */
const { fd, slots, control, errorText } = workerData as IoWorkerData;
const counts = new Int32Array(control);
const buffers = slots.map((s) => new Uint8Array(s));

parentPort!.on("message", (request: IoRequest) => {
  if (Atomics.load(counts, IO_FAILED) !== 0) return;
  try {
    const view = buffers[request.slot]!.subarray(0, request.bytes);
    let moved = 0;
    while (moved < request.bytes) {
      const position = request.offset + moved;
      const n = request.write ? writeSync(fd, view, moved, request.bytes - moved, position) : readSync(fd, view, moved, request.bytes - moved, position);
      if (n === 0) throw new Error(`end of file at byte ${position}`);
      moved += n;
    }
  } catch (error) {
    writeIoError(errorText, `${request.write ? "writing" : "reading"} ${request.bytes} bytes at byte ${request.offset}: ${(error as Error).message}`);
    Atomics.store(counts, IO_FAILED, 1);
  }
  Atomics.add(counts, IO_DONE, 1);
  Atomics.notify(counts, IO_DONE);
});
