import { existsSync, readdirSync } from "node:fs";
import { basename, extname, isAbsolute, join } from "node:path";

import { packageRoot } from "../package_root.js";
import { type Config, DEFAULT_CONFIG } from "../train/config.js";
import { ConfigError, parseConfig, readConfigFile } from "../train/config_file.js";

/**
 * Configs by name: the examples shipped in the package's examples/ folder are built-in configs
 * (`turbine train gpt-char`), and a relative path not found in the current folder is looked for
 * in the package (so `turbine train examples/gpt-char.json` works from any folder).
 */

const CONFIG_FILE = /\.(json|ya?ml)$/i;

/** A shipped example config. */
export interface BuiltinConfig {
  name: string;
  path: string;
}

/**
 * The shipped example configs, by name (the file name without its extension), sorted.
 * @example builtinConfigs().map((c) => c.name) // ["cnn", "gpt-char", "gpt-char-bf16", "mlp"]
 */
export function builtinConfigs(): BuiltinConfig[] {
  const dir = join(packageRoot(), "examples");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => CONFIG_FILE.test(f))
    .map((f) => ({ name: basename(f, extname(f)), path: join(dir, f) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The file a `turbine train` argument names: an existing file as given; else a built-in name;
 * else a relative path inside the package. Anything else is a ConfigError listing the names.
 * @example resolveConfigFile("gpt-char") // "<package>/examples/gpt-char.json"
 */
export function resolveConfigFile(arg: string): string {
  if (existsSync(arg)) return arg;
  const builtin = builtinConfigs().find((c) => c.name === arg);
  if (builtin) return builtin.path;
  if (!isAbsolute(arg) && existsSync(join(packageRoot(), arg))) return join(packageRoot(), arg);
  const names = builtinConfigs().map((c) => c.name);
  throw new ConfigError(`config ${arg}: cannot read it (ENOENT), and it is not a built-in config (${names.join(", ")}); turbine train --list shows them`);
}

/**
 * One line per built-in config: its name, what it trains and for how long, and its file.
 * @example formatBuiltinConfigs() // "(none)  cnn on fashion-mnist, 4 epochs, float32  (the default of turbine train)\ncnn  ..."
 */
export function formatBuiltinConfigs(): string {
  const describe = (config: Config): string => {
    const length = config.train.steps !== undefined ? `${config.train.steps} steps` : `${config.train.epochs ?? 1} epochs`;
    return `${config.model.kind} on ${config.data.kind}, ${length}, ${config.train.precision}`;
  };
  const rows = [
    ["(none)", describe(parseConfig(DEFAULT_CONFIG, "(built-in default)")), "the default of turbine train"],
    ...builtinConfigs().map((c) => [c.name, describe(parseConfig(readConfigFile(c.path), c.path)), `examples/${basename(c.path)}`]),
  ];
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  (${r[2]})`).join("\n");
}
