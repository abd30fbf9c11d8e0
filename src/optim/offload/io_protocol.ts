/** What a StateFile and its I/O thread share (src/optim/offload/io_worker.ts). */

/** One read or write of `bytes` bytes between slot `slot` and the file at byte `offset`. */
export interface IoRequest {
  write: boolean;
  slot: number;
  offset: number;
  bytes: number;
}

export interface IoWorkerData {
  fd: number;
  /** The buffers requests read into and write from. */
  slots: SharedArrayBuffer[];
  /** Int32 words: IO_DONE (requests finished), IO_FAILED (1 once one failed). */
  control: SharedArrayBuffer;
  /** The failed request's message, UTF-8, zero-padded. */
  errorText: SharedArrayBuffer;
}

export const IO_DONE = 0;
export const IO_FAILED = 1;
export const IO_CONTROL_WORDS = 2;
export const IO_ERROR_BYTES = 512;

/** Stores a message in the shared error buffer (truncated to fit). @example writeIoError(buf, "reading …: EIO") */
export function writeIoError(buffer: SharedArrayBuffer, message: string): void {
  const bytes = new Uint8Array(buffer);
  bytes.fill(0);
  new TextEncoder().encodeInto(message, bytes.subarray(0, bytes.length - 1));
}

/** The message writeIoError stored. @example readIoError(buf) // "reading …: EIO" */
export function readIoError(buffer: SharedArrayBuffer): string {
  const bytes = new Uint8Array(buffer);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.slice(0, end < 0 ? bytes.length : end));
}
