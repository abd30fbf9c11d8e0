import { performance } from "node:perf_hooks";

import cliProgress from "cli-progress";

import type { Callback, EvalInfo, StepInfo } from "./callbacks.js";
import { epochOfStep, formatDuration, formatThroughput, RunningMean } from "./progress_format.js";
import { stderrProgressOutput, type ProgressOutput } from "./progress_output.js";
import type { Trainer } from "./trainer.js";

export interface ProgressOptions {
  /** Optimizer steps of the whole run. */
  totalSteps: number;
  /** Optimizer steps per epoch (for "epoch k/N"). */
  stepsPerEpoch: number;
  /** What throughput counts: samples or tokens. */
  unit: string;
  /** Steps between plain lines; also the window of the mean loss shown. */
  every: number;
  /** Data-parallel ranks (throughput is shown for the job and per rank). Default 1. */
  ranks?: number;
  /** Show the bar or lines (true, default) or only evaluation results (false: `--no-progress`). */
  steps?: boolean;
  /** Where progress goes (default: stderr, a bar when it is a terminal). */
  output?: ProgressOutput;
  /** The clock in milliseconds, for elapsed and remaining time (tests pass a fake one). */
  now?: () => number;
}

/**
 * Shows training progress, as tqdm does: on a terminal a bar (cli-progress) with epoch k/N, step,
 * mean loss of the last `every` steps, learning rate, throughput, elapsed and remaining time;
 * elsewhere (a file, a pipe) the same figures as one plain line every `every` steps and no
 * escape codes. Evaluation results are printed above the bar, which is then drawn again.
 * @example new Trainer({ ...options, callbacks: [new Progress({ totalSteps: 1876, stepsPerEpoch: 469, unit: "samples", every: 50 })] })
 */
export class Progress implements Callback {
  private readonly output: ProgressOutput;
  private readonly bar: cliProgress.SingleBar | null;
  private readonly loss: RunningMean;
  private readonly now: () => number;
  /** Seconds spent waiting for batches, for the data-wait share on each line. */
  private dataWait = 0;
  private start = { ms: 0, step: 0 };

  constructor(readonly options: ProgressOptions) {
    this.output = options.output ?? stderrProgressOutput();
    this.now = options.now ?? (() => performance.now());
    this.loss = new RunningMean(options.every);
    const drawBar = this.output.terminal && (options.steps ?? true);
    this.bar = drawBar
      ? new cliProgress.SingleBar(
          {
            // cli-progress writes to a stream; this one is the output, seen as a terminal.
            stream: { isTTY: true, columns: this.output.columns, write: (text: string) => this.output.write(text) } as unknown as NodeJS.WritableStream,
            format: (options, params, payload: { epoch: string; figures: string }) => {
              const head = `epoch ${payload.epoch} |`,
                tail = `| ${params.value}/${params.total} | ${payload.figures}`;
              // The bar takes what the terminal's width leaves, so the figures stay on screen.
              const room = this.output.columns ? this.output.columns - head.length - tail.length - 1 : 20;
              return `${head}${cliProgress.Format.BarFormat(params.progress, { ...options, barsize: Math.min(40, Math.max(10, room)) })}${tail}`;
            },
            hideCursor: true,
            // Redraw even an unchanged line: an evaluation result may have been printed over it.
            forceRedraw: true,
            synchronousUpdate: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  }

  onTrainStart(trainer: Trainer): void {
    this.start = { ms: this.now(), step: trainer.step };
    this.bar?.start(this.options.totalSteps, trainer.step, { epoch: this.epoch(trainer.step), figures: "" });
  }

  onStepEnd(info: StepInfo): void {
    this.dataWait += info.dataWait;
    this.loss.push(info.loss);
    if (this.options.steps === false) return;
    if (this.bar) {
      this.bar.update(info.step, { epoch: this.epoch(info.step), figures: this.figures(info).join(" | ") });
    } else if (info.step % this.options.every === 0 || info.step === this.options.totalSteps) {
      this.output.write(`step ${info.step}/${this.options.totalSteps}  epoch ${this.epoch(info.step)}  ${this.figures(info).join("  ")}\n`);
    }
  }

  onEvalEnd(info: EvalInfo): void {
    const accuracy = info.accuracy !== undefined ? `, accuracy ${(100 * info.accuracy).toFixed(2)}%` : "";
    const text = `eval at step ${info.step} (epoch ${this.epoch(info.step)}): loss ${info.loss.toFixed(4)}${accuracy}\n`;
    if (!this.bar) {
      this.output.write(text);
      return;
    }
    // Carriage return and erase the line: the result replaces the bar, which is drawn again below
    // it. The bar's row is saved anew (ESC 7), as cli-progress restores the saved cursor when it stops.
    this.output.write(`\r\x1b[2K${text}\x1b7`);
    this.bar.render();
  }

  onTrainEnd(): void {
    this.close();
  }

  /** Stops the bar (drawn once more, the cursor shown again); also for a run that failed. Idempotent. */
  close(): void {
    this.bar?.stop();
  }

  private epoch(step: number): string {
    return epochOfStep(step, this.options.stepsPerEpoch, this.options.totalSteps);
  }

  /** Mean loss, learning rate, throughput, elapsed and remaining wall time, data wait (what a narrow terminal cuts off last). */
  private figures(info: StepInfo): string[] {
    const elapsed = (this.now() - this.start.ms) / 1000;
    const done = info.step - this.start.step;
    const remaining = done > 0 ? (elapsed / done) * (this.options.totalSteps - info.step) : Number.NaN;
    return [
      `mean loss ${this.loss.value.toFixed(4)}`,
      `lr ${info.lr.toExponential(2)}`,
      formatThroughput(info.throughput, this.options.ranks ?? 1, this.options.unit),
      `elapsed ${formatDuration(elapsed)}`,
      `left ${formatDuration(remaining)}`,
      `data wait ${((100 * this.dataWait) / Math.max(info.trainSeconds, 1e-9)).toFixed(1)}%`,
    ];
  }
}
