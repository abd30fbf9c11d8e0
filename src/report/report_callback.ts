import { existsSync, statSync } from "node:fs";
import { join } from "node:path";

import type { Callback } from "../train/callbacks.js";
import type { Trainer } from "../train/trainer.js";
import { writeReport } from "./write_report.js";

/** The report's file name in its run folder (`turbine train --report`). */
export const REPORT_FILE = "report.html";

/**
 * Writes a run folder's own report, `<run>/report.html`, from what the folder holds now.
 * @example writeRunReport("runs/cnn/version_0"); // runs/cnn/version_0/report.html
 */
export function writeRunReport(runDir: string): string {
  const out = join(runDir, REPORT_FILE);
  writeReport([runDir], out);
  return out;
}

/**
 * Keeps `<run>/report.html` current during training: written when training starts, then
 * rewritten (atomically, with the training clock paused) whenever metrics.jsonl has grown, that
 * is after each logged step and each evaluation. Give it after the MetricsFile callback, so it
 * sees that step's line.
 * @example runTraining(config, { callbacks: (runDir) => [new ReportCallback(runDir)] });
 */
export class ReportCallback implements Callback {
  /** metrics.jsonl's size when the report was last written (it only grows during a run). */
  private writtenAt = -1;

  constructor(readonly runDir: string) {}

  onTrainStart(trainer: Trainer): void {
    this.refresh(trainer);
  }

  onStepEnd(_info: unknown, trainer: Trainer): void {
    this.refresh(trainer);
  }

  onEvalEnd(_info: unknown, trainer: Trainer): void {
    this.refresh(trainer);
  }

  private refresh(trainer: Trainer): void {
    const metrics = join(this.runDir, "metrics.jsonl");
    const size = existsSync(metrics) ? statSync(metrics).size : 0;
    if (size === this.writtenAt) return;
    this.writtenAt = size;
    trainer.pauseClock(() => writeRunReport(this.runDir));
  }
}
