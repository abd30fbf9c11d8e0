import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

import type { Callback, EvalInfo, StepInfo } from "./callbacks.js";
import { tfRecord } from "./tfrecord.js";
import type { Trainer } from "./trainer.js";

/**
 * TensorBoard event files, written in TensorFlow's documented format (no maintained npm library
 * writes them): TFRecords (tfrecord.ts) each holding one `Event` protocol buffer
 * (tensorflow/core/util/event.proto):
 *   Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
 *           SessionLog session_log = 7 }
 *   Summary { repeated Value value = 1 }   Value { string tag = 1; float simple_value = 2 }
 *   SessionLog { SessionStatus status = 1 }   (START = 1)
 * The first event of a file carries file_version "brain.Event:2".
 */

function varint(value: number): number[] {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return bytes;
}

/** A length-delimited field (wire type 2): a string, bytes or an embedded message. */
function delimited(field: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...varint((field << 3) | 2), ...varint(payload.length)]), payload]);
}

function scalarValue(tag: string, value: number): Buffer {
  const simpleValue = Buffer.alloc(5);
  simpleValue[0] = (2 << 3) | 5; // field 2, wire type 5 (32-bit): float simple_value
  simpleValue.writeFloatLE(value, 1);
  return Buffer.concat([delimited(1, Buffer.from(tag, "utf8")), simpleValue]);
}

/** One Event: wall_time, step, then what happened (a field of the `what` oneof, already encoded). */
function event(wallTime: number, step: number, what: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head[0] = (1 << 3) | 1; // field 1, wire type 1 (64-bit): double wall_time
  head.writeDoubleLE(wallTime, 1);
  return Buffer.concat([head, Buffer.from([(2 << 3) | 0, ...varint(step)]), what]);
}

let filesOpened = 0;

/**
 * Writes scalars for TensorBoard to an event file in `dir` (the run folder, beside
 * metrics.jsonl): per step train/loss, train/lr, train/<unit>_per_s (the job's throughput) and
 * train/grad_norm (when clipping computes it); per evaluation eval/loss and eval/accuracy. A
 * resumed run opens a new file that starts with a SessionLog START at its first step, so
 * TensorBoard drops what the earlier file logged after that step.
 * @example new Trainer({ ...options, callbacks: [new TensorBoardLogger("runs/cnn/version_0", { unit: "samples" })] }) // then: tensorboard --logdir runs
 */
export class TensorBoardLogger implements Callback {
  /** The event file, once training has started. */
  path: string | null = null;
  private fd: number | null = null;

  constructor(
    readonly dir: string,
    readonly options: { unit: string; ranks?: number; now?: () => number },
  ) {}

  onTrainStart(trainer: Trainer): void {
    mkdirSync(this.dir, { recursive: true });
    const seconds = Math.floor(this.wallTime());
    this.path = join(this.dir, `events.out.tfevents.${seconds}.${hostname()}.${process.pid}.${filesOpened++}`);
    this.fd = openSync(this.path, "w");
    this.write(event(this.wallTime(), 0, delimited(3, Buffer.from("brain.Event:2"))));
    if (trainer.step > 0) this.write(event(this.wallTime(), trainer.step, delimited(7, Buffer.from([(1 << 3) | 0, 1]))));
  }

  onStepEnd(info: StepInfo): void {
    const scalars: [string, number][] = [
      ["train/loss", info.loss],
      ["train/lr", info.lr],
      [`train/${this.options.unit}_per_s`, info.throughput * (this.options.ranks ?? 1)],
    ];
    if (info.gradNorm !== null) scalars.push(["train/grad_norm", info.gradNorm]);
    this.writeScalars(info.step, scalars);
  }

  onEvalEnd(info: EvalInfo): void {
    this.writeScalars(
      info.step,
      info.accuracy === undefined
        ? [["eval/loss", info.loss]]
        : [
            ["eval/loss", info.loss],
            ["eval/accuracy", info.accuracy],
          ],
    );
  }

  onTrainEnd(): void {
    this.close();
  }

  /** Closes the event file (also for a run that failed). Idempotent. */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private writeScalars(step: number, scalars: [string, number][]): void {
    const summary = Buffer.concat(scalars.map(([tag, value]) => delimited(1, scalarValue(tag, value))));
    this.write(event(this.wallTime(), step, delimited(5, summary)));
  }

  private write(data: Buffer): void {
    if (this.fd === null) throw new Error("TensorBoardLogger: write before onTrainStart");
    writeSync(this.fd, tfRecord(data));
  }

  private wallTime(): number {
    return (this.options.now?.() ?? Date.now()) / 1000;
  }
}
