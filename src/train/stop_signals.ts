import { nativeStopSignals } from "../backends/index.js";

/**
 * Ctrl-C and SIGTERM during training. The loop is synchronous, so Node's process.on("SIGINT")
 * never runs while it trains; a native handler records the signal instead, and the loop polls
 * it after each step (TrainerOptions.stopRequested), saves a checkpoint and ends. The same
 * signal a second time exits at once, after restoring the terminal (cursor shown, line wrap on).
 */

const NAMES: Record<number, "SIGINT" | "SIGTERM"> = { 2: "SIGINT", 15: "SIGTERM" };

/**
 * Installs the handlers; returns the function that puts the previous ones back. On a second
 * signal the cursor and line wrap are restored on `terminalFds` (where a progress bar is drawn).
 * @example
 * const unwatch = watchStopSignals([2]);
 * try { runTraining(config, { stopRequested: () => stopSignalReceived()?.name ?? null }); } finally { unwatch(); }
 */
export function watchStopSignals(terminalFds: readonly number[] = []): () => void {
  // Without the addon's handlers (the js backend without a build, or an addon compiled before
  // native/signals.cc) the run ends at a signal as it did before, instead of not starting.
  const signals = nativeStopSignals();
  if (signals === null) return () => {};
  signals.installStopSignals([...terminalFds]);
  let installed = true;
  return () => {
    if (installed) signals.uninstallStopSignals();
    installed = false;
  };
}

/**
 * The first SIGINT or SIGTERM received while watched (it stays set after), with the exit code
 * a process it stopped ends with (130 or 143), or null.
 * @example const stop = stopSignalReceived(); if (stop) process.exitCode = stop.exitCode;
 */
export function stopSignalReceived(): { name: "SIGINT" | "SIGTERM"; exitCode: number } | null {
  const signal = nativeStopSignals()?.stopSignal() ?? 0;
  const name = NAMES[signal];
  return name ? { name, exitCode: 128 + signal } : null;
}
