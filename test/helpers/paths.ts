import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the folder holding package.json), found from this compiled file. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("repoRoot: no package.json above the test files");
    dir = up;
  }
  return dir;
}

export const fixturesDir = (): string => join(repoRoot(), "test", "fixtures");
