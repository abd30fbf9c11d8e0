import { writeFileSync } from "node:fs";
import { extname } from "node:path";

import { stringify as toYaml } from "yaml";

import type { Config } from "../train/config.js";
import { percent, type TuneResult } from "./tune.js";

/** The formats a tuned config is written in, by the file's extension (the repo's configs are JSON; turbine also reads YAML). */
export const TUNED_CONFIG_EXTENSIONS = [".json", ".yaml", ".yml"] as const;

/**
 * Writes a config as a file `turbine train` reads back to the same config: YAML for .yaml and
 * .yml, JSON otherwise. Every field is written, defaults included, so the file says exactly what
 * was measured.
 *
 * @example writeTunedConfig("cnn.tuned.json", result.config)
 */
export function writeTunedConfig(path: string, config: Config): void {
  // JSON first, for both: it drops the fields a config leaves undefined.
  const plain = JSON.parse(JSON.stringify(config)) as unknown;
  const yaml = [".yaml", ".yml"].includes(extname(path).toLowerCase());
  writeFileSync(path, yaml ? toYaml(plain) : `${JSON.stringify(plain, null, 2)}\n`);
}

/**
 * The tune table: the baseline, then each lever with its step time, its speed against the
 * baseline, its validation loss and change, and whether it was kept (and why not); then the
 * factor of the tuned config.
 *
 * @example console.log(formatTune(result))
 */
export function formatTune(result: TuneResult): string {
  const ms = (s: number): string => (1000 * s).toFixed(1);
  const rows = [
    ["lever", "change", "ms/step", "× baseline", "validation", "kept?"],
    ["baseline", "", ms(result.baseline.secondsPerStep), "1.00", result.baseline.validation.toFixed(4), ""],
    ...result.rows.map((r) => [
      r.lever,
      r.what ?? "",
      r.trial ? ms(r.trial.secondsPerStep) : "",
      r.speedup === null ? "" : r.speedup.toFixed(2),
      r.trial && r.validationChange !== null ? `${r.trial.validation.toFixed(4)} (${percent(r.validationChange)})` : "",
      r.kept ? "yes" : `no: ${r.reason}`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : i === 5 ? c : c.padEnd(widths[i]!))).join("  "));
  const kept = result.rows.filter((r) => r.kept).map((r) => r.lever);
  const change = (result.tuned.validation - result.baseline.validation) / Math.abs(result.baseline.validation);
  lines.push(
    "",
    `tuned: ${result.factor.toFixed(2)}× the baseline's speed (${ms(result.baseline.secondsPerStep)} → ${ms(result.tuned.secondsPerStep)} ms/step), ` +
      `validation ${result.tuned.validation.toFixed(4)} (${percent(change)}); kept: ${kept.length > 0 ? kept.join(", ") : "none"}`,
  );
  return lines.join("\n");
}
