/**
 * The native backend: the C++ addon (oneDNN and OpenMP kernels), compiled for this CPU. The only
 * module that loads build/Release/turbine.node (a test enforces it).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

import { packageRoot } from "../../package_root.js";
import type { Kernels } from "../kernels.js";
import { lowDtypesOf, throughFloat32 } from "./through_float32.js";

/**
 * Where the native addon is: build/Release/turbine.node under the package; throws naming the build command when it is missing.
 * @example readFileSync(addonPath())
 */
export function addonPath(): string {
  const path = join(packageRoot(), "build", "Release", "turbine.node");
  if (existsSync(path)) return path;
  throw new Error(
    "turbine: the native addon build/Release/turbine.node is missing; build it with `npm run build` " +
      "(it needs Debian's libdnnl-dev and g++: see the README's set-up command)",
  );
}

let native: Kernels | null = null;
let raw: (Kernels & NativeReplayKernels) | null = null;
/** Whether a call goes to the addon's own kernel unchanged (set with `native`). */
let straightToAddon: (name: string, args: readonly unknown[]) => boolean = () => true;

/** The addon's replay loop (native/replay.cc): kernel calls bound once, then run in one call. */
interface NativeReplayKernels {
  replayBind(names: readonly string[], args: readonly (readonly unknown[])[]): unknown;
  replayRun(handle: unknown): void;
}

/** What a compiled step's native replay needs from the addon. */
export interface NativeReplayLoop {
  /** Binds kernel calls (names and arguments) into a handle `run` runs in one call. */
  bind(names: readonly string[], args: readonly (readonly unknown[])[]): unknown;
  run(handle: unknown): void;
  /** Whether calling `fn` (a kernel table's entry for `name`) with `args` is the addon's own kernel `name` on them. */
  runsAddonKernel(name: string, fn: unknown, args: readonly unknown[]): boolean;
}

/**
 * The native backend's kernels: this thread's instance of the addon, loaded on first use (so the
 * js backend runs where the addon was never built), with float16 matrix products and
 * convolutions (and bfloat16 ones, where oneDNN has none on this CPU) computed through float32
 * (through_float32.ts).
 * @example loadNative().getNumThreads()
 */
export function loadNative(): Kernels {
  if (native === null) {
    const addon = createRequire(import.meta.url)(addonPath()) as Kernels;
    // A build older than the sources (build/ kept across a pull) lacks the newest kernels.
    if (typeof addon.metaFields !== "function") {
      throw new Error("turbine: build/Release/turbine.node is older than the sources (it has no metaFields kernel); rebuild it with `npm run build`");
    }
    const wrapped = throughFloat32(addon, lowDtypesOf(addon));
    native = { ...addon, ...wrapped.kernels };
    straightToAddon = wrapped.straight;
    raw = addon as Kernels & NativeReplayKernels;
  }
  return native;
}

/**
 * The addon's replay loop, or null where the addon was built without it.
 * @example const loop = nativeReplayLoop(); if (loop) loop.run(loop.bind(["binary"], [[add, 0, a, b, out, meta]]));
 */
export function nativeReplayLoop(): NativeReplayLoop | null {
  const table = loadNative() as unknown as Record<string, unknown>;
  const addon = raw!;
  if (typeof addon.replayBind !== "function" || typeof addon.replayRun !== "function") return null;
  const own = addon as unknown as Record<string, unknown>;
  return {
    bind: (names, args) => addon.replayBind(names, args),
    run: (handle) => addon.replayRun(handle),
    runsAddonKernel: (name, fn, args) => fn === own[name] || (fn === table[name] && straightToAddon(name, args)),
  };
}
