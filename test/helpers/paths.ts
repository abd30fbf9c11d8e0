import { join } from "node:path";

import { packageRoot } from "../../src/package_root.js";

/** The repository root. */
export const repoRoot = packageRoot;

export const fixturesDir = (): string => join(packageRoot(), "test", "fixtures");
