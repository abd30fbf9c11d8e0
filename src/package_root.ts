import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | null = null;

/**
 * The folder of turbine's package.json (the repository root when run from a clone), found by
 * walking up from this compiled file. The addon, examples, fixtures and the PyTorch twins are
 * located from it.
 * @example join(packageRoot(), "examples", "gpt-char.json")
 */
export function packageRoot(): string {
  if (cached !== null) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "binding.gyp"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("turbine: cannot find the package folder (package.json and binding.gyp) above the compiled files");
    dir = up;
  }
  return (cached = dir);
}
