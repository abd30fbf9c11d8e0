import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

import type { ProcessGroup } from "../parallel/process_group.js";
import { disposeState } from "../parallel/state.js";
import { memory } from "../tensor/memory.js";
import { checkpointName, pruneCheckpoints, saveCheckpoint } from "./checkpoint.js";
import type { Trainer } from "./trainer.js";

/** What the Trainer reports after each optimizer step. */
export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number | null;
  /** Samples (or tokens) per second of training time so far, excluding evaluation. */
  throughput: number;
  /** Seconds the step waited for its batch. */
  dataWait: number;
  /** Seconds of training so far (excluding evaluation and checkpoints). */
  trainSeconds: number;
}

export interface EvalInfo {
  step: number;
  epoch: number;
  loss: number;
  accuracy?: number;
}

/**
 * Hooks into the training loop. A callback may call trainer.requestStop(reason).
 * @example const logLoss: Callback = { onStepEnd: (s) => console.log(s.step, s.loss) };
 */
export interface Callback {
  onTrainStart?(trainer: Trainer): void;
  onStepEnd?(info: StepInfo, trainer: Trainer): void;
  onEvalEnd?(info: EvalInfo, trainer: Trainer): void;
  onTrainEnd?(trainer: Trainer): void;
}

/**
 * Saves a checkpoint every `every` steps (if set) and at the end (always when the run was
 * interrupted), keeping the newest `keep` of its folder: give it a folder of its run's own.
 * Under a group every rank has one and writes its part of each checkpoint (rank 0 completes it
 * and prunes).
 * @example new CheckpointCallback("runs/cnn/version_0/checkpoints", { every: 500, keep: 3 })
 */
export class CheckpointCallback implements Callback {
  /** The newest checkpoint written. */
  last: string | null = null;

  constructor(
    readonly dir: string,
    readonly options: { every?: number | null; keep?: number; atEnd?: boolean } = {},
    readonly group?: ProcessGroup,
  ) {}

  onStepEnd(info: StepInfo, trainer: Trainer): void {
    if (this.options.every && info.step % this.options.every === 0) this.save(trainer);
  }

  onTrainEnd(trainer: Trainer): void {
    const wanted = (this.options.atEnd ?? true) || trainer.interrupted !== null;
    if (wanted && this.last !== join(this.dir, checkpointName(trainer.step))) this.save(trainer);
  }

  save(trainer: Trainer): void {
    const path = join(this.dir, checkpointName(trainer.step));
    trainer.pauseClock(() => {
      const content = trainer.checkpointContent();
      try {
        saveCheckpoint(path, content, this.group);
      } finally {
        disposeState(content.state);
      }
      if ((this.group?.rank ?? 0) === 0) pruneCheckpoints(this.dir, this.options.keep ?? 3);
    });
    this.last = path;
  }
}

/**
 * Stops training when an evaluation metric has not improved for `patience` evaluations.
 * @example new EarlyStopping({ metric: "loss", mode: "min", patience: 3 })
 */
export class EarlyStopping implements Callback {
  private best: number | null = null;
  private waited = 0;

  constructor(readonly options: { metric: "loss" | "accuracy"; mode: "min" | "max"; patience: number; minDelta?: number }) {}

  onEvalEnd(info: EvalInfo, trainer: Trainer): void {
    const value = info[this.options.metric];
    if (value === undefined) throw new Error(`EarlyStopping: evaluation reports no ${this.options.metric}`);
    const delta = this.options.minDelta ?? 0;
    const better = this.best === null || (this.options.mode === "min" ? value < this.best - delta : value > this.best + delta);
    if (better) {
      this.best = value;
      this.waited = 0;
    } else if (++this.waited >= this.options.patience) {
      trainer.requestStop(`early stopping: ${this.options.metric} has not improved on ${this.best} for ${this.waited} evaluations`);
    }
  }
}

/**
 * Appends one JSON line per logged step (StepInfo, and the memory tracker's bytes held and peak
 * so far: memoryBytes, peakMemoryBytes) and per evaluation to a file (metrics.jsonl) of one run.
 * @example new MetricsFile("runs/cnn/version_0/metrics.jsonl", 50)
 */
export class MetricsFile implements Callback {
  constructor(
    readonly path: string,
    readonly every = 50,
  ) {
    mkdirSync(dirname(path), { recursive: true });
  }

  onStepEnd(info: StepInfo): void {
    if (info.step % this.every !== 0) return;
    // This thread's tracker: the bytes held after the step, and the most held at once so far.
    const { total, peakTotal } = memory.report();
    this.write({ type: "train", time: new Date().toISOString(), ...info, memoryBytes: total, peakMemoryBytes: peakTotal });
  }

  onEvalEnd(info: EvalInfo): void {
    this.write({ type: "eval", time: new Date().toISOString(), ...info });
  }

  /**
   * Drops the records after `step` (a resumed run continues from its checkpoint's step, so the
   * steps it trains again appear once).
   */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = readFileSync(this.path, "utf8")
      .split("\n")
      .filter((line) => {
        if (line.trim() === "") return false;
        try {
          return (JSON.parse(line) as { step?: number }).step! <= step;
        } catch {
          return false; // a line cut short by a crash
        }
      });
    writeFileSync(this.path, kept.map((line) => `${line}\n`).join(""));
  }

  private write(record: object): void {
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }
}
