import { alignPoints, type Points } from "./align.js";
import type { RunData, TrainPoint } from "./run_data.js";

/** One line of a plot as uPlot draws it. */
export interface LineSpec {
  label: string;
  color: string;
  /** A dash pattern (px on, px off) for a run's second quantity; solid without. */
  dash?: number[];
  /** Mark every point (sparse lines, such as evaluations). */
  points: boolean;
}

/** One plot of the report: its lines and their aligned data (x = step). */
export interface PlotSpec {
  id: string;
  title: string;
  yLabel: string;
  lines: LineSpec[];
  data: [number[], ...(number | null)[][]];
}

/** Distinct colours (Tableau 10), one per run, in the order the runs are given. */
export const RUN_COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

/**
 * The colour of the i-th run (the palette repeats after ten runs).
 * @example runColor(1) // "#f28e2b"
 */
export const runColor = (i: number): string => RUN_COLORS[i % RUN_COLORS.length]!;

const MIB = 1024 * 1024;

/**
 * Samples (or tokens) per second between each logged step and the one before: the units trained
 * since then over the training seconds since then. StepInfo.throughput averages from the start of
 * training, which hides a slowdown; where the clock went back (a resumed run's restarted trainer)
 * the logged average is kept.
 * @example intervalThroughput([{ throughput: 10, trainSeconds: 1 }, { throughput: 15, trainSeconds: 2 }]) // [10, 20]
 */
export function intervalThroughput(points: readonly Pick<TrainPoint, "throughput" | "trainSeconds">[]): number[] {
  return points.map((p, i) => {
    const prev = points[i - 1];
    if (prev === undefined || p.trainSeconds <= prev.trainSeconds) return p.throughput;
    return (p.throughput * p.trainSeconds - prev.throughput * prev.trainSeconds) / (p.trainSeconds - prev.trainSeconds);
  });
}

/** A run's line of one quantity of its logged training steps, leaving out steps without it. */
function trainLine(run: RunData, value: (p: TrainPoint, i: number) => number | null | undefined): Points {
  const x: number[] = [],
    y: number[] = [];
  run.train.forEach((p, i) => {
    const v = value(p, i);
    if (v === null || v === undefined) return;
    x.push(p.step);
    y.push(v);
  });
  return { x, y };
}

const unitOf = (run: RunData): string => (typeof run.summary?.unit === "string" ? `${run.summary.unit}/s` : "units/s");

/**
 * The report's plots of `runs`, one line (or two, for memory) per run in the run's colour:
 * training loss, validation loss (and accuracy, for classifiers), learning rate, throughput,
 * data wait, gradient norm and memory. Plots no run has points for are left out.
 * @example plotsOf([readRun("runs/cnn/version_0")]).map((p) => p.id) // ["loss", "val_loss", "val_accuracy", "lr", ...]
 */
export function plotsOf(runs: readonly RunData[]): PlotSpec[] {
  const plot = (id: string, title: string, yLabel: string, lines: { line: LineSpec; points: Points }[]): PlotSpec | null =>
    lines.some((l) => l.points.x.length > 0) ? { id, title, yLabel, lines: lines.map((l) => l.line), data: alignPoints(lines.map((l) => l.points)) } : null;
  const perRun = (value: (run: RunData) => Points, options: { points?: boolean; label?: (run: RunData) => string } = {}) =>
    runs.map((run, i) => ({
      line: { label: options.label?.(run) ?? run.label, color: runColor(i), points: options.points ?? false },
      points: value(run),
    }));
  const evalLine = (run: RunData, value: (e: RunData["eval"][number]) => number | undefined): Points => {
    const kept = run.eval.filter((e) => value(e) !== undefined);
    return { x: kept.map((e) => e.step), y: kept.map((e) => value(e)!) };
  };
  const memory = runs.flatMap((run, i) => [
    { line: { label: `${run.label} held`, color: runColor(i), points: false }, points: trainLine(run, (p) => p.memoryBytes && p.memoryBytes / MIB) },
    {
      line: { label: `${run.label} peak so far`, color: runColor(i), dash: [6, 4], points: false },
      points: trainLine(run, (p) => p.peakMemoryBytes && p.peakMemoryBytes / MIB),
    },
  ]);
  const plots = [
    plot(
      "loss",
      "training loss",
      "loss",
      perRun((run) => trainLine(run, (p) => p.loss)),
    ),
    plot(
      "val_loss",
      "validation loss",
      "loss",
      perRun((run) => evalLine(run, (e) => e.loss), { points: true }),
    ),
    plot(
      "val_accuracy",
      "validation accuracy",
      "%",
      perRun((run) => evalLine(run, (e) => e.accuracy && 100 * e.accuracy), { points: true }),
    ),
    plot(
      "lr",
      "learning rate",
      "lr",
      perRun((run) => trainLine(run, (p) => p.lr)),
    ),
    plot(
      "throughput",
      "throughput of rank 0 between logged steps",
      "per second",
      perRun(
        (run) => {
          const rates = intervalThroughput(run.train);
          return trainLine(run, (_, i) => rates[i]);
        },
        { label: (run) => `${run.label} (${unitOf(run)})` },
      ),
    ),
    plot(
      "data_wait",
      "data wait of the logged step",
      "ms",
      perRun((run) => trainLine(run, (p) => 1000 * p.dataWait)),
    ),
    plot(
      "grad_norm",
      "gradient norm (before clipping)",
      "norm",
      perRun((run) => trainLine(run, (p) => p.gradNorm)),
    ),
    plot("memory", "memory of rank 0: held after the step, and the peak so far", "MiB", memory),
  ];
  return plots.filter((p): p is PlotSpec => p !== null);
}
