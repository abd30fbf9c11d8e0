/**
 * Run reports: one self-contained HTML page of a run's (or several runs') plots, config and
 * summary (`turbine report`, `turbine train --report`).
 * @example
 * import { report } from "turbine";
 * report.writeReport(["runs/cnn/version_0", "runs/cnn/version_1"], "report.html");
 */
export { readRun, readMetrics, runFolders, RunDataError, type RunData, type TrainPoint, type EvalPoint } from "./run_data.js";
export { alignPoints, type Points } from "./align.js";
export { plotsOf, intervalThroughput, runColor, RUN_COLORS, type PlotSpec, type LineSpec } from "./plots.js";
export { flatten, differingFields, formatField } from "./tables.js";
export { renderReport } from "./html.js";
export { writeReport, writeAtomically } from "./write_report.js";
export { ReportCallback, writeRunReport, REPORT_FILE } from "./report_callback.js";
export { uplotAssets, type UplotAssets } from "./uplot_assets.js";
