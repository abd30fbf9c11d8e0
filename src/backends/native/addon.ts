/**
 * The native backend: the C++ addon (oneDNN and OpenMP kernels), compiled for this CPU. The only
 * module that loads build/Release/turbine.node (a test enforces it).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

import { packageRoot } from "../../package_root.js";
import type { Kernels } from "../kernels.js";
import { float16ThroughFloat32 } from "./float16.js";

function findAddon(): string {
  const path = join(packageRoot(), "build", "Release", "turbine.node");
  if (existsSync(path)) return path;
  throw new Error(
    "turbine: the native addon build/Release/turbine.node is missing; build it with `npm run build` " +
      "(it needs Debian's libdnnl-dev and g++: see the README's set-up command)",
  );
}

let native: Kernels | null = null;

/**
 * The native backend's kernels: this thread's instance of the addon, loaded on first use (so the
 * js backend runs where the addon was never built), with float16 matrix products and
 * convolutions computed through float32 (float16.ts).
 * @example loadNative().getNumThreads()
 */
export function loadNative(): Kernels {
  if (native === null) {
    const addon = createRequire(import.meta.url)(findAddon()) as Kernels;
    // A build older than the sources (build/ kept across a pull) lacks the newest kernels.
    if (typeof addon.metaFields !== "function") {
      throw new Error("turbine: build/Release/turbine.node is older than the sources (it has no metaFields kernel); rebuild it with `npm run build`");
    }
    native = { ...addon, ...float16ThroughFloat32(addon) };
  }
  return native;
}
