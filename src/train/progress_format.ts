/**
 * The figures of training progress as text, shared by the bar, the plain lines and the run's
 * summary so that all three label the same quantities the same way.
 */

/**
 * A rate with a thousands suffix: 950, 13.8k.
 * @example formatRate(13_766) // "13.8k"
 */
export function formatRate(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)}k` : value.toFixed(0);
}

/**
 * Seconds as m:ss, or h:mm:ss from an hour on (as tqdm shows times).
 * @example formatDuration(75) // "1:15"
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600),
    minutes = Math.floor((s % 3600) / 60),
    rest = s % 60;
  const mmss = `${String(minutes).padStart(hours > 0 ? 2 : 1, "0")}:${String(rest).padStart(2, "0")}`;
  return hours > 0 ? `${hours}:${mmss}` : mmss;
}

/**
 * The throughput of a job, labelled: one figure for a single process, else the job's (global)
 * figure and each rank's. `perRank` is one rank's rate; every rank trains on as many samples per
 * step, so the job's is ranks × perRank.
 * @example formatThroughput(13_766, 2, "samples") // "27.5k samples/s global (13.8k per rank)"
 */
export function formatThroughput(perRank: number, ranks: number, unit: string, format: (value: number) => string = formatRate): string {
  if (ranks <= 1) return `${format(perRank)} ${unit}/s`;
  return `${format(perRank * ranks)} ${unit}/s global (${format(perRank)} per rank)`;
}

/**
 * How many epochs `steps` optimizer steps are: a whole number when they end an epoch, else the
 * fraction to two significant digits (never "0 epochs" for a short run).
 * @example formatEpochs(938, 469) // "2 epochs"; formatEpochs(6, 469) // "0.013 epochs"
 */
export function formatEpochs(steps: number, stepsPerEpoch: number): string {
  const epochs = steps / stepsPerEpoch;
  if (Number.isInteger(epochs)) return `${epochs} epoch${epochs === 1 ? "" : "s"}`;
  return `${Number(epochs.toPrecision(2))} epochs`;
}

/**
 * The 1-based epoch that optimizer step `step` (1-based; 0 before the first) belongs to, of
 * `epochs` in all: every epoch has exactly stepsPerEpoch steps.
 * @example epochOfStep(470, 469, 1876) // "2/4"
 */
export function epochOfStep(step: number, stepsPerEpoch: number, totalSteps: number): string {
  const total = Math.ceil(totalSteps / stepsPerEpoch);
  const current = Math.min(total, Math.max(1, Math.ceil(step / stepsPerEpoch)));
  return `${current}/${total}`;
}

/**
 * The mean of the last `window` values pushed (the loss shown while training: one batch's loss is
 * too noisy to read).
 * @example const m = new RunningMean(2); m.push(1); m.push(2); m.push(4); m.value // 3
 */
export class RunningMean {
  private readonly values: number[] = [];
  private next = 0;

  constructor(readonly window: number) {
    if (!Number.isSafeInteger(window) || window < 1) throw new RangeError(`RunningMean: window must be a positive integer, got ${window}`);
  }

  push(value: number): void {
    if (this.values.length < this.window) this.values.push(value);
    else this.values[this.next] = value;
    this.next = (this.next + 1) % this.window;
  }

  /** The mean of the values in the window (NaN before the first); summed afresh, so no rounding drifts in. */
  get value(): number {
    let sum = 0;
    for (const v of this.values) sum += v;
    return this.values.length === 0 ? Number.NaN : sum / this.values.length;
  }

  /** How many values the mean is over (at most window). */
  get count(): number {
    return this.values.length;
  }
}
