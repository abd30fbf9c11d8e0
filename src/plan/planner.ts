import type { Config } from "../train/config.js";
import type { Machine } from "./cluster.js";
import { enumerateLayouts, FULL_SPACE, type Layout, type LayoutSpace } from "./layouts.js";
import { describeModel, type ModelDescription } from "./model_description.js";
import { rankMemory, type RankMemory } from "./rank_memory.js";
import { stepTime, type StepTime } from "./step_time.js";

export interface PlanOptions {
  ranks: number;
  /** Bytes of memory each rank may use. */
  memoryPerRank: number;
  /** The machine the ranks run on (a cluster file's, or this one's calibration). */
  machine: Machine;
  /** Samples per optimizer step across all ranks. */
  globalBatch: number;
  /** The gpt's vocabulary size (ignored for the classifiers). */
  vocab: number;
  space?: LayoutSpace;
  /** The layout the config asks for (layoutOf), compared with the choice in the explanation. */
  current?: Layout;
}

/** A layout with its predicted per-rank memory and step time. */
export interface PlannedLayout {
  layout: Layout;
  memory: RankMemory;
  time: StepTime;
  fits: boolean;
  /** Samples per second of the whole job. */
  samplesPerSecond: number;
}

export interface Plan {
  model: { kind: string; parameters: number };
  ranks: number;
  memoryPerRank: number;
  globalBatch: number;
  machine: string;
  /** Layouts turbine runs for this model on these ranks. */
  considered: number;
  /** Those that fit, fastest first. */
  fitting: PlannedLayout[];
  /** When none fits: the layout that needs the least memory. */
  leanest: PlannedLayout | null;
  /** Why the first of `fitting` is the choice, in sentences. */
  explanation: string[];
}

/** The layout's dimensions the explanation compares one at a time. */
const DIMENSIONS = ["zero", "checkpoint", "offload", "tensor", "pipeline", "accumulate"] as const;

/** A layout in a few words: "data 2 × tensor 2 × pipeline 1, zero 1, checkpointing, accumulate 2". */
export function describeLayout(l: Layout): string {
  const parts = [`data ${l.data} × tensor ${l.tensor} × pipeline ${l.pipeline}`, `zero ${l.zero}`];
  if (l.pipeline > 1) parts.push(`${l.schedule} × ${l.microBatches} micro-batches${l.schedule === "interleaved" ? ` (${l.virtualStages} chunks)` : ""}`);
  if (l.checkpoint) parts.push("checkpointing");
  if (l.offload === "disk") parts.push("offload disk");
  parts.push(`batch ${l.batchSize}${l.accumulate > 1 ? ` × accumulate ${l.accumulate}` : ""} per rank`);
  return parts.join(", ");
}

const GiB = 2 ** 30;
const gib = (bytes: number): string => `${(bytes / GiB).toFixed(bytes < 10 * GiB ? 2 : 1)} GiB`;
const seconds = (s: number): string => (s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`);
const share = (part: number, whole: number): string => `${Math.round((100 * part) / whole)}%`;

/** Where the best layout's step goes, largest first. */
function breakdown(t: StepTime): string {
  const parts: [string, number][] = [
    ["compute", t.compute],
    ["bubble", t.bubble],
    ["tensor all-reduces", t.tensorComm],
    ["stage transfers", t.pipelineComm],
    ["gradient sync", t.dataComm],
    ["optimizer", t.optimizer],
  ];
  return parts
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, v]) => `${name} ${share(v, t.total)}`)
    .join(", ");
}

function explain(best: PlannedLayout, all: PlannedLayout[], memoryPerRank: number): string[] {
  const lines = [
    `choice: ${describeLayout(best.layout)}: ${seconds(best.time.total)} per step (${breakdown(best.time)}), ` +
      `peak ${gib(best.memory.total)} of ${gib(memoryPerRank)} per rank (model states ${gib(best.memory.modelStates.resident)}, activations ${gib(best.memory.activations)})`,
  ];
  for (const dim of DIMENSIONS) {
    const others = all.filter((p) => p.layout[dim] !== best.layout[dim]);
    if (others.length === 0) continue;
    const fitting = others.filter((p) => p.fits);
    const fastest = fitting.reduce<PlannedLayout | null>((a, p) => (a && a.time.total <= p.time.total ? a : p), null);
    const leanest = others.reduce((a, p) => (a.memory.total <= p.memory.total ? a : p));
    const value = (p: PlannedLayout): string => `${dim} ${String(p.layout[dim])}`;
    if (fastest) {
      const slower = fastest.time.total / best.time.total - 1;
      lines.push(
        `${value(fastest)} instead: ${slower >= 0.005 ? `${(100 * slower).toFixed(0)}% slower` : "as fast"} at best (${describeLayout(fastest.layout)})`,
      );
    } else {
      lines.push(`${dim} other than ${String(best.layout[dim])}: nothing fits; the leanest (${value(leanest)}) needs ${gib(leanest.memory.total)} per rank`);
    }
  }
  return lines;
}

/**
 * Plans a config on `ranks` ranks: enumerates the layouts turbine runs (layouts.ts, by
 * strategyFor's own rule), predicts each one's per-rank peak memory (rank_memory.ts) and step
 * time on the machine (step_time.ts), keeps those within the memory per rank, ranks them by
 * step time and explains the first against the best alternative along each dimension. A model
 * of any size: it is described, never built.
 *
 * @example
 * const result = plan(config, { ranks: 8, memoryPerRank: 80e9, machine: loadCluster("cluster.yaml"), globalBatch: 256, vocab: 50304 });
 * result.fitting[0]?.layout   // the fastest layout that fits
 */
export function plan(config: Config, options: PlanOptions): Plan {
  const model = describeModel(config.model, options.vocab);
  // Activation checkpointing is a lever of the layout: the gpt is described with and without it.
  const withCheckpointing = new Map<boolean, ModelDescription>();
  const modelFor = (layout: Layout): ModelDescription => {
    if (config.model.kind !== "gpt" || layout.checkpoint === config.model.checkpoint) return model;
    let other = withCheckpointing.get(layout.checkpoint);
    if (!other) withCheckpointing.set(layout.checkpoint, (other = describeModel({ ...config.model, checkpoint: layout.checkpoint }, options.vocab)));
    return other;
  };
  const layouts = enumerateLayouts(config, options.ranks, options.globalBatch, model, options.space ?? FULL_SPACE);
  const planned = layouts.map((layout): PlannedLayout => {
    const memory = rankMemory(config, modelFor(layout), layout);
    const time = stepTime(config, modelFor(layout), layout, options.machine);
    return { layout, memory, time, fits: memory.total <= options.memoryPerRank, samplesPerSecond: options.globalBatch / time.total };
  });
  const fitting = planned.filter((p) => p.fits).sort((a, b) => a.time.total - b.time.total);
  const leanest = fitting.length === 0 && planned.length > 0 ? planned.reduce((a, p) => (a.memory.total <= p.memory.total ? a : p)) : null;
  const head = `${planned.length} layouts turbine runs for a ${model.kind} of ${(model.parameters / 1e6).toFixed(model.parameters < 1e7 ? 2 : 0)}M parameters on ${options.ranks} ranks (global batch ${options.globalBatch}, ${options.machine.source}); ${fitting.length} fit in ${gib(options.memoryPerRank)} per rank`;
  const explanation = [head];
  if (fitting[0]) explanation.push(...explain(fitting[0], planned, options.memoryPerRank));
  if (options.current) {
    const memory = rankMemory(config, modelFor(options.current), options.current);
    const time = stepTime(config, modelFor(options.current), options.current, options.machine);
    const versus = fitting[0] ? `, ${(time.total / fitting[0].time.total).toFixed(2)}× the choice's step time` : "";
    explanation.push(
      `as configured (${describeLayout(options.current)}): ${seconds(time.total)} per step${versus}, peak ${gib(memory.total)} per rank${memory.total > options.memoryPerRank ? ", which does not fit" : ""}`,
    );
  } else if (leanest)
    explanation.push(
      `none fits: the leanest, ${describeLayout(leanest.layout)}, needs ${gib(leanest.memory.total)} per rank; more ranks or memory per rank are needed`,
    );
  else
    explanation.push(
      `no layout: data × tensor × pipeline = ${options.ranks} with a data degree dividing the global batch ${options.globalBatch} gives none turbine runs`,
    );
  return {
    model: { kind: model.kind, parameters: model.parameters },
    ranks: options.ranks,
    memoryPerRank: options.memoryPerRank,
    globalBatch: options.globalBatch,
    machine: options.machine.source,
    considered: planned.length,
    fitting,
    leanest,
    explanation,
  };
}
