/**
 * The addon's handlers for SIGINT and SIGTERM: process services rather than kernels, so they sit
 * beside the kernel table. The training loop is synchronous, so Node's process.on("SIGINT") never
 * runs while it trains; the handler records the signal for the loop to poll.
 */
import { loadNative } from "./addon.js";

/** What native/signals.cc exports. */
export interface StopSignals {
  /**
   * From now on the first SIGINT or SIGTERM only sets the flag stopSignal() reads; the same
   * signal again shows the cursor and turns line wrap on at `terminalFds`, then exits with 128 + signal.
   * Calls nest, each undone by one uninstallStopSignals (the last restores the previous handlers).
   */
  installStopSignals(terminalFds: number[]): void;
  uninstallStopSignals(): void;
  /** The first SIGINT (2) or SIGTERM (15) received since stop signals were installed, else 0. */
  stopSignal(): number;
}

/**
 * The addon's stop-signal handlers, or null where the addon is not built (the js backend) or
 * predates them (a checkout not rebuilt since): the run then ends at a signal as Node's default does.
 * @example nativeStopSignals()?.stopSignal() // 0 until a signal arrives
 */
export function nativeStopSignals(): StopSignals | null {
  let addon: Partial<StopSignals>;
  try {
    addon = loadNative() as unknown as Partial<StopSignals>;
  } catch {
    return null;
  }
  return typeof addon.installStopSignals === "function" ? (addon as StopSignals) : null;
}
