import cliProgress from "cli-progress";

import type { Callback, EvalInfo, StepInfo } from "./callbacks.js";
import type { Trainer } from "./trainer.js";

function rate(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)}k` : value.toFixed(0);
}

/**
 * Shows training progress: a bar (cli-progress) with step, loss, throughput and ETA when the
 * stream is a terminal, else one plain line every `every` steps (for logs and CI).
 * @example new Progress(totalSteps, "samples", 50)
 */
export class Progress implements Callback {
  private readonly bar: cliProgress.SingleBar | null;
  /** Seconds spent waiting for batches, for the data-wait share on each line. */
  private dataWait = 0;

  constructor(
    readonly totalSteps: number,
    readonly unit: string,
    readonly every: number,
    private readonly stream: NodeJS.WriteStream = process.stdout,
  ) {
    this.bar = stream.isTTY
      ? new cliProgress.SingleBar(
          {
            stream,
            format: "epoch {epoch} |{bar}| step {value}/{total} | loss {loss} | {rate} {unit}/s | ETA {eta_formatted}",
            hideCursor: true,
            etaBuffer: 50,
            synchronousUpdate: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  }

  onTrainStart(trainer: Trainer): void {
    this.bar?.start(this.totalSteps, trainer.step, { epoch: trainer.epoch, loss: "-", rate: "-", unit: this.unit });
  }

  onStepEnd(info: StepInfo): void {
    this.dataWait += info.dataWait;
    if (this.bar) {
      this.bar.update(info.step, { epoch: info.epoch, loss: info.loss.toFixed(4), rate: rate(info.throughput), unit: this.unit });
    } else if (info.step % this.every === 0 || info.step === this.totalSteps) {
      this.stream.write(
        `step ${info.step}/${this.totalSteps}  epoch ${info.epoch}  loss ${info.loss.toFixed(4)}  lr ${info.lr.toExponential(2)}  ${rate(info.throughput)} ${this.unit}/s  data wait ${((100 * this.dataWait) / Math.max(info.trainSeconds, 1e-9)).toFixed(1)}%\n`,
      );
    }
  }

  onEvalEnd(info: EvalInfo): void {
    const text = `eval at step ${info.step}: loss ${info.loss.toFixed(4)}${info.accuracy !== undefined ? `, accuracy ${(100 * info.accuracy).toFixed(2)}%` : ""}`;
    if (this.bar) {
      this.bar.stop();
      this.stream.write(`${text}\n`);
      this.bar.start(this.totalSteps, info.step, { epoch: info.epoch, loss: "-", rate: "-", unit: this.unit });
    } else {
      this.stream.write(`${text}\n`);
    }
  }

  onTrainEnd(): void {
    this.bar?.stop();
  }
}
