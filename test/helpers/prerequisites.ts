import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { FashionMNIST } from "../../src/data/fashion_mnist.js";
import { repoRoot } from "./paths.js";

/**
 * Skips for missing prerequisites that cannot hide in CI. scripts/setup.sh installs every
 * prerequisite of the suite (Open MPI and the mpi addon, Fashion-MNIST, iproute2, script(1), chromium) and
 * .ci/run sets TURBINE_CI=1 after it, so there a missing prerequisite is a failure (one failing
 * test naming it), not a quiet skip. Elsewhere (a developer's machine without them) the tests
 * that need it are skipped with the reason.
 *
 * @example
 * test("mpi: ...", { skip: skipIfMissing(missingMpi()) }, () => { ... });
 */
export function skipIfMissing(missing: string | null): string | false {
  if (missing === null) return false;
  if (process.env.TURBINE_CI === "1" && !reported.has(missing)) {
    reported.add(missing);
    test(`prerequisite: ${missing}`, () => {
      assert.fail(`${missing}, though scripts/setup.sh installs it: the tests that need it would be skipped in CI`);
    });
  }
  return missing;
}

const reported = new Set<string>();

const has = (command: string): boolean => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;

/** Why the mpi backend cannot run here (Open MPI or its addon missing), or null. */
export function missingMpi(): string | null {
  if (!has("mpirun")) return "Open MPI's mpirun is not installed";
  if (!existsSync(join(repoRoot(), "build", "Release", "turbine_mpi.node"))) return "the mpi addon (build/Release/turbine_mpi.node) was not built";
  return null;
}

/** Why Fashion-MNIST cannot be read here, or null. */
export function missingFashionMnist(): string | null {
  return existsSync(FashionMNIST.defaultRoot) ? null : "dataset-fashion-mnist is not installed";
}

/** Why no headless browser can open a page here (Debian's chromium missing), or null. */
export function missingChromium(): string | null {
  return has("chromium") ? null : "chromium (Debian's chromium package) is not installed";
}

/** Why no terminal can be emulated here (script(1) from bsdutils missing), or null. */
export function missingScript(): string | null {
  return spawnSync("script", ["--version"]).status === 0 ? null : "script(1) (bsdutils) is not installed";
}
