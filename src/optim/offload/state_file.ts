import { closeSync, ftruncateSync, mkdirSync, openSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";
import { IO_CONTROL_WORDS, IO_DONE, IO_ERROR_BYTES, IO_FAILED, type IoRequest, type IoWorkerData, readIoError } from "./io_protocol.js";

const WORKER_URL = new URL("./io_worker.js", import.meta.url);

/** How long one request may take before a wait fails instead of hanging (a dead disk, a lost thread). */
const REQUEST_TIMEOUT_MS = 120_000;

/** Files still open in this process, removed when it exits however it exits. */
const openFiles = new Set<StateFile>();
process.on("exit", () => {
  // The process is ending: its descriptors and threads go with it; only the file would remain.
  for (const file of openFiles) unlinkSync(file.path);
});

/**
 * A scratch file of `bytes` zero bytes (created sparse) with `slotCount` shared buffers of
 * `slotBytes` each, read and written by a thread of its own in the order asked: `read`/`write`
 * return a ticket at once and `wait(ticket)` blocks until that request (and every earlier one)
 * is done. The file is removed by close() or when the process exits.
 *
 * @example
 * const file = new StateFile("/tmp/state.bin", 1 << 20, 2, 4096);
 * file.wait(file.read(0, 0, 4096));   // slot 0 now holds the file's first 4096 bytes
 * file.close();
 */
export class StateFile {
  /** The shared buffers, as bytes. */
  readonly slots: Uint8Array[];
  private readonly fd: number;
  private readonly worker: Worker;
  private readonly counts: Int32Array;
  private readonly errorText: SharedArrayBuffer;
  private posted = 0;
  private closed = false;

  constructor(
    readonly path: string,
    readonly bytes: number,
    slotCount: number,
    readonly slotBytes: number,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, "w+");
    try {
      ftruncateSync(this.fd, bytes);
    } catch (error) {
      closeSync(this.fd);
      unlinkSync(path);
      throw new Error(`offload: cannot make ${path} ${bytes} bytes long (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const slots = Array.from({ length: slotCount }, () => new SharedArrayBuffer(slotBytes));
    const control = new SharedArrayBuffer(IO_CONTROL_WORDS * 4);
    this.errorText = new SharedArrayBuffer(IO_ERROR_BYTES);
    this.slots = slots.map((s) => new Uint8Array(s));
    this.counts = new Int32Array(control);
    const data: IoWorkerData = { fd: this.fd, slots, control, errorText: this.errorText };
    this.worker = new Worker(WORKER_URL, { workerData: data });
    // The file's thread must not keep a finished program alive.
    this.worker.unref();
    openFiles.add(this);
  }

  /** Asks for `bytes` bytes at file byte `offset` to be read into slot `slot`; returns its ticket. */
  read(slot: number, offset: number, bytes: number): number {
    return this.post({ write: false, slot, offset, bytes });
  }

  /** Asks for the first `bytes` bytes of slot `slot` to be written at file byte `offset`; returns its ticket. */
  write(slot: number, offset: number, bytes: number): number {
    return this.post({ write: true, slot, offset, bytes });
  }

  /** Blocks until the request with this ticket is done; throws the I/O error of any request before it. */
  wait(ticket: number): void {
    for (;;) {
      const done = Atomics.load(this.counts, IO_DONE);
      if (Atomics.load(this.counts, IO_FAILED) !== 0) throw new Error(`offload ${this.path}: ${readIoError(this.errorText)}`);
      if (done >= ticket) return;
      if (Atomics.wait(this.counts, IO_DONE, done, REQUEST_TIMEOUT_MS) === "timed-out") {
        throw new Error(`offload ${this.path}: a read or write took over ${REQUEST_TIMEOUT_MS / 1000} s (request ${done + 1} of ${this.posted})`);
      }
    }
  }

  /** Lets the requests already asked for finish, ends the file's thread and removes the file. @example file.close() */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    openFiles.delete(this);
    // The descriptor is closed only once the thread is done with it: a number reused by the
    // next open would otherwise take the thread's late writes.
    try {
      this.wait(this.posted);
    } finally {
      void this.worker.terminate();
      closeSync(this.fd);
      unlinkSync(this.path);
    }
  }

  private post(request: IoRequest): number {
    if (this.closed) throw new Error(`offload ${this.path}: the file is closed`);
    if (request.bytes > this.slotBytes) throw new RangeError(`offload: ${request.bytes} bytes do not fit a ${this.slotBytes}-byte slot`);
    if (request.offset < 0 || request.offset + request.bytes > this.bytes) {
      throw new RangeError(`offload: bytes [${request.offset}, ${request.offset + request.bytes}) lie outside the ${this.bytes}-byte file`);
    }
    this.worker.postMessage(request);
    return ++this.posted;
  }
}
