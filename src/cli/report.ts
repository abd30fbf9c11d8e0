import type { Command } from "commander";

import { writeReport } from "../report/write_report.js";

/**
 * `turbine report RUN_DIR… [--out report.html]`: one self-contained HTML page of the runs'
 * plots (overlaid, one colour per run), summaries and configs.
 * @example turbine report runs/cnn/version_0 runs/cnn/version_1 --out cnn.html
 */
export function registerReport(program: Command): void {
  program
    .command("report")
    .description(
      "write one self-contained HTML page (no network needed to view it) of runs' loss, validation, learning-rate, throughput, data-wait and memory plots, overlaid one colour per run, with their summaries and configs",
    )
    .argument("<runs...>", "run folders (e.g. runs/cnn/version_0), or a run name's folder (runs/cnn: all its versions)")
    .option("--out <file>", "the HTML file to write", "report.html")
    .action((runs: string[], opts: { out: string }) => {
      const shown = writeReport(runs, opts.out);
      process.stdout.write(`wrote ${opts.out}: ${shown.length} run${shown.length === 1 ? "" : "s"} (${shown.map((r) => r.label).join(", ")})\n`);
    });
}
