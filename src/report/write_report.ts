import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

import { ConfigError } from "../train/config_file.js";
import { renderReport } from "./html.js";
import { readRun, type RunData, runFolders } from "./run_data.js";

/**
 * Writes `text` to `path` through a temporary file beside it and a rename, so a reader (a
 * browser reloading the report during a run) sees the old file or the new one, never half.
 * @example writeAtomically("runs/cnn/version_0/report.html", html);
 */
export function writeAtomically(path: string, text: string): void {
  // Unique per writer: ranks of one launched job are threads of one process.
  const temporary = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}

/** Whether the file at `path` starts as an HTML page does (a report this command wrote before, which it may replace). */
function isHtmlPage(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(64);
    const n = readSync(fd, head, 0, head.length, 0);
    return /^\s*<(!doctype html|html)/i.test(head.subarray(0, n).toString("utf8"));
  } finally {
    closeSync(fd);
  }
}

/** Runs whose short labels collide (two folders' `cnn/version_0`) are labelled by their folders instead. */
function withDistinctLabels(runs: RunData[]): RunData[] {
  const count = new Map<string, number>();
  for (const run of runs) count.set(run.label, (count.get(run.label) ?? 0) + 1);
  return runs.map((run) => (count.get(run.label)! > 1 ? { ...run, label: run.dir } : run));
}

/**
 * Reads the runs that `paths` name (run folders, or run names' folders for all their versions;
 * each folder once) and writes their report to `out` (atomically; its folder is made if
 * missing; an existing file there must be an HTML page, never a run's own file). Returns the runs shown.
 * @example writeReport(["runs/cnn/version_0", "runs/cnn/version_1"], "report.html");
 */
export function writeReport(paths: readonly string[], out: string): RunData[] {
  if (out.trim() === "") throw new ConfigError('the report\'s file name is empty; give one such as "report.html"');
  if (existsSync(out) && statSync(out).isDirectory())
    throw new ConfigError(`${out} is a folder; give the report's file name, e.g. ${join(out, "report.html")}`);
  if (existsSync(out) && !isHtmlPage(out))
    throw new ConfigError(`${out} exists and is not an HTML page (a run's own file?): the report would replace it; give a new file name such as report.html`);
  const seen = new Set<string>();
  const folders = runFolders(paths).filter((dir) => !seen.has(resolve(dir)) && seen.add(resolve(dir)));
  const runs = withDistinctLabels(folders.map(readRun));
  mkdirSync(dirname(out), { recursive: true });
  writeAtomically(out, renderReport(runs));
  return runs;
}
