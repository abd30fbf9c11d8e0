import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import type { StepInfo } from "../../src/train/callbacks.js";
import { TensorBoardLogger } from "../../src/train/tensorboard.js";
import { crc32c, maskedCrc32c } from "../../src/train/tfrecord.js";
import type { Trainer } from "../../src/train/trainer.js";
import { repoRoot } from "../helpers/paths.js";

const work = mkdtempSync(join(tmpdir(), "turbine-tensorboard-"));
after(() => rmSync(work, { recursive: true, force: true }));

// An independent reader of event files, written from the format's documentation: a bitwise
// CRC32C (no table), TFRecord framing, and a generic protocol buffer decoder.

function bitwiseCrc32c(bytes: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}

const mask = (crc: number): number => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) % 2 ** 32;

/** The records of a TFRecord file, each checked against both of its checksums. */
function readRecords(file: Buffer): Buffer[] {
  const records: Buffer[] = [];
  for (let at = 0; at < file.length; ) {
    const length = Number(file.readBigUInt64LE(at));
    assert.equal(file.readUInt32LE(at + 8), mask(bitwiseCrc32c(file.subarray(at, at + 8))), `length checksum of the record at ${at}`);
    const data = file.subarray(at + 12, at + 12 + length);
    assert.equal(file.readUInt32LE(at + 12 + length), mask(bitwiseCrc32c(data)), `data checksum of the record at ${at}`);
    records.push(data);
    at += 12 + length + 4;
  }
  return records;
}

type Field = { number: number; value: number | bigint | Buffer };

/** The fields of a protocol buffer message: varints as bigint, fixed64 and fixed32 as raw bytes, length-delimited as bytes. */
function fields(message: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let value = 0n,
      shift = 0n;
    for (;;) {
      const byte = message[at++]!;
      value |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if ((byte & 0x80) === 0) return value;
    }
  };
  while (at < message.length) {
    const key = Number(varint());
    const number = key >> 3,
      wire = key & 7;
    if (wire === 0) out.push({ number, value: varint() });
    else if (wire === 1) out.push({ number, value: message.subarray(at, (at += 8)) });
    else if (wire === 5) out.push({ number, value: message.subarray(at, (at += 4)) });
    else if (wire === 2) {
      const length = Number(varint());
      out.push({ number, value: message.subarray(at, (at += length)) });
    } else assert.fail(`unexpected wire type ${wire}`);
  }
  return out;
}

interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  sessionStatus?: number;
  scalars?: Record<string, number>;
}

function decodeEvent(bytes: Buffer): DecodedEvent {
  const event: DecodedEvent = { wallTime: Number.NaN, step: 0 };
  for (const f of fields(bytes)) {
    if (f.number === 1) event.wallTime = (f.value as Buffer).readDoubleLE(0);
    else if (f.number === 2) event.step = Number(f.value);
    else if (f.number === 3) event.fileVersion = (f.value as Buffer).toString("utf8");
    else if (f.number === 7) event.sessionStatus = Number(fields(f.value as Buffer).find((s) => s.number === 1)?.value);
    else if (f.number === 5) {
      event.scalars = {};
      for (const value of fields(f.value as Buffer)) {
        assert.equal(value.number, 1, "Summary holds only values");
        const parts = fields(value.value as Buffer);
        const tag = (parts.find((p) => p.number === 1)!.value as Buffer).toString("utf8");
        event.scalars[tag] = (parts.find((p) => p.number === 2)!.value as Buffer).readFloatLE(0);
      }
    } else assert.fail(`unexpected Event field ${f.number}`);
  }
  return event;
}

const readEvents = (path: string): DecodedEvent[] => readRecords(readFileSync(path)).map(decodeEvent);

test("CRC32C matches RFC 3720's test vectors; the mask matches TensorFlow's", () => {
  const vectors: [Uint8Array, number][] = [
    [new Uint8Array(32), 0x8a9136aa],
    [new Uint8Array(32).fill(0xff), 0x62a8ab43],
    [Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    [Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
  ];
  for (const [bytes, expected] of vectors) {
    assert.equal(crc32c(bytes), expected);
    assert.equal(bitwiseCrc32c(bytes), expected, "the test's own CRC agrees");
  }
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283, "the CRC catalogue's check value");
  assert.equal(maskedCrc32c(Buffer.from("123456789")), mask(0xe3069283));
});

function step(s: number, gradNorm: number | null): StepInfo {
  return { step: s, epoch: 0, loss: 2 / s, lr: 1e-3 * s, gradNorm, throughput: 1000, dataWait: 0, trainSeconds: s };
}

test("TensorBoardLogger: file_version first, then per-step scalars and evaluation scalars, framed and checksummed", () => {
  let clock = 1_700_000_000_000;
  const logger = new TensorBoardLogger(join(work, "run"), { unit: "tokens", ranks: 2, now: () => (clock += 250) });
  logger.onTrainStart({ step: 0 } as Trainer);
  logger.onStepEnd(step(1, 0.5));
  logger.onStepEnd(step(2, null));
  logger.onEvalEnd({ step: 2, epoch: 1, loss: 0.75, accuracy: 0.875 });
  logger.onTrainEnd();
  assert.match(logger.path!, /run\/events\.out\.tfevents\.\d{10}\.[^/]+\.\d+\.\d+$/, "a name TensorBoard picks up");
  const events = readEvents(logger.path!);
  assert.deepEqual(events[0], { wallTime: 1_700_000_000.5, step: 0, fileVersion: "brain.Event:2" });
  const f32 = (x: number): number => Math.fround(x);
  assert.deepEqual(events.slice(1), [
    { wallTime: 1_700_000_000.75, step: 1, scalars: { "train/loss": 2, "train/lr": f32(1e-3), "train/tokens_per_s": 2000, "train/grad_norm": 0.5 } },
    { wallTime: 1_700_000_001, step: 2, scalars: { "train/loss": 1, "train/lr": f32(2e-3), "train/tokens_per_s": 2000 } },
    { wallTime: 1_700_000_001.25, step: 2, scalars: { "eval/loss": 0.75, "eval/accuracy": 0.875 } },
  ]);
});

test("TensorBoardLogger on a resumed run: a new file whose SessionLog START at the first step makes TensorBoard drop later steps of the old one", () => {
  const logger = new TensorBoardLogger(join(work, "resumed"), { unit: "samples" });
  logger.onTrainStart({ step: 40 } as Trainer);
  logger.onStepEnd(step(41, null));
  logger.onTrainEnd();
  const events = readEvents(logger.path!);
  assert.equal(events[0]!.fileVersion, "brain.Event:2");
  assert.deepEqual({ step: events[1]!.step, status: events[1]!.sessionStatus }, { step: 40, status: 1 });
  assert.deepEqual(events[2]!.scalars, { "train/loss": Math.fround(2 / 41), "train/lr": Math.fround(0.041), "train/samples_per_s": 1000 });
});

test("turbine train with logging.tensorboard: an event file beside metrics.jsonl whose losses are metrics.jsonl's", { timeout: 300_000 }, () => {
  const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
  const args = [
    "train",
    "--no-progress",
    "--set",
    "model.kind=mlp",
    "--set",
    "model.hidden=[16]",
    "--set",
    "train.steps=6",
    "--set",
    "train.logEvery=2",
    "--set",
    "data.evalBatchSize=5000",
  ];
  const r = spawnSync(process.execPath, [cli, ...args, "--set", "logging.tensorboard=true", "--set", `outDir=${work}`], {
    cwd: work,
    encoding: "utf8",
    timeout: 300_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const runDir = join(work, "mlp", "version_0");
  const files = readdirSync(runDir).filter((f) => f.startsWith("events.out.tfevents."));
  assert.equal(files.length, 1, `one event file in ${readdirSync(runDir).join(", ")}`);
  const events = readEvents(join(runDir, files[0]!));
  const train = events.filter((e) => e.scalars?.["train/loss"] !== undefined);
  assert.deepEqual(
    train.map((e) => e.step),
    [1, 2, 3, 4, 5, 6],
    "every step",
  );
  const metrics = readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; step: number; loss: number; accuracy?: number });
  for (const m of metrics.filter((x) => x.type === "train")) assert.equal(train[m.step - 1]!.scalars!["train/loss"], Math.fround(m.loss), `step ${m.step}`);
  const evaluation = metrics.find((x) => x.type === "eval")!;
  assert.deepEqual(events.at(-1)!.scalars, { "eval/loss": Math.fround(evaluation.loss), "eval/accuracy": Math.fround(evaluation.accuracy!) });

  const off = spawnSync(process.execPath, [cli, ...args, "--set", `outDir=${join(work, "off")}`], { cwd: work, encoding: "utf8", timeout: 300_000 });
  assert.equal(off.status, 0, off.stderr);
  assert.deepEqual(
    readdirSync(join(work, "off", "mlp", "version_0")).filter((f) => f.includes("tfevents")),
    [],
    "off by default",
  );
});

test("turbine train --resume with logging.tensorboard: the new file restarts at the checkpoint's step", { timeout: 300_000 }, () => {
  const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
  const dir = join(work, "resume");
  const args = [
    "train",
    "--no-progress",
    "--set",
    "model.kind=mlp",
    "--set",
    "model.hidden=[16]",
    "--set",
    "train.steps=6",
    "--set",
    "checkpoint.every=2",
    "--set",
    "data.evalBatchSize=5000",
  ];
  const first = spawnSync(process.execPath, [cli, ...args, "--set", "logging.tensorboard=true", "--set", `outDir=${dir}`], {
    cwd: work,
    encoding: "utf8",
    timeout: 300_000,
  });
  assert.equal(first.status, 0, first.stderr);
  const runDir = join(dir, "mlp", "version_0");
  const resumed = spawnSync(process.execPath, [cli, "train", "--no-progress", "--resume", join(runDir, "checkpoints", "step-00000002")], {
    cwd: work,
    encoding: "utf8",
    timeout: 300_000,
  });
  assert.equal(resumed.status, 0, resumed.stderr);
  const files = readdirSync(runDir).filter((f) => f.startsWith("events.out.tfevents."));
  assert.equal(files.length, 2, "one file per process");
  const [before, after] = files.map((f) => readEvents(join(runDir, f)));
  const trainSteps = (events: DecodedEvent[]): number[] => events.filter((e) => e.scalars?.["train/loss"] !== undefined).map((e) => e.step);
  const started = (events: DecodedEvent[]): boolean => events.some((e) => e.sessionStatus === 1);
  const [old, fresh] = started(before!) ? [after!, before!] : [before!, after!];
  assert.deepEqual(trainSteps(old), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual({ step: fresh[1]!.step, status: fresh[1]!.sessionStatus }, { step: 2, status: 1 }, "SessionLog START at the resumed step");
  assert.deepEqual(trainSteps(fresh), [3, 4, 5, 6]);
  const loss = (events: DecodedEvent[], s: number): number =>
    events.find((e) => e.step === s && e.scalars?.["train/loss"] !== undefined)!.scalars!["train/loss"]!;
  assert.equal(loss(fresh, 6), loss(old, 6), "resuming is exact, so the curves agree");
});
