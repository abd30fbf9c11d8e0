import { performance } from "node:perf_hooks";

import type { OpObserver, StepRegion } from "../autograd/observer.js";
import type { CollectiveKind } from "../parallel/wrapped_group.js";
import { memory, type MemoryCategory, type MemoryReport } from "../tensor/memory.js";
import type { Interval } from "./intervals.js";

/** One op call (its own time includes the ops it called). Times are performance.now() ms. */
export interface OpRecord {
  op: string;
  /** backward: a backward rule, or an op a backward rule called. */
  phase: "forward" | "backward";
  start: number;
  end: number;
  /** Nesting depth: 0 for an op called from outside any op. */
  depth: number;
}

/** One collective: issued at `start`, seen complete at `end` (its wait returned, or isCompleted said so). */
export interface CollectiveRecord {
  kind: CollectiveKind;
  /** Bytes of this rank's input. */
  bytes: number;
  start: number;
  end: number;
}

/** The time the training thread spent inside a collective's call or its wait, not computing. */
export interface BlockedRecord {
  kind: CollectiveKind;
  /** "call" for the collective's own call (the whole collective when it is synchronous), "wait" for Work.wait(). */
  how: "call" | "wait";
  start: number;
  end: number;
}

/** A batch a loader worker made, taken by a profiled step (performance.now() ms of the training thread). */
export interface LoaderRecord {
  worker: number;
  start: number;
  end: number;
}

/** A point of the memory timeline: bytes held by category. */
export interface MemorySample {
  t: number;
  bytes: Record<MemoryCategory, number>;
}

/** What a StepRecorder saw in its profiled steps. */
export interface Recording {
  /** Each profiled step's [start, end]. */
  steps: Interval[];
  ops: OpRecord[];
  data: Interval[];
  optimizer: Interval[];
  /** Compiled steps (train.compile): recorded or replayed kernels, compute without ops. */
  replay: Interval[];
  collectives: CollectiveRecord[];
  blocked: BlockedRecord[];
  /** Batches loader workers made (none with 0 workers: the data wait is the making). */
  loader: LoaderRecord[];
  memory: MemorySample[];
  /** The tracker's report at the end of the profiled steps, its peaks counted from their start. */
  memoryReport: MemoryReport;
}

/**
 * Records a window of training steps: the op observer of the autograd layer (every op's
 * forward and backward), the step regions of the Trainer (the step, its data wait, the
 * optimizer), the collectives a TracingGroup reports and the memory tracker after each op. The
 * first `warmup` steps run unrecorded (first-call costs: kernel primitives, lazy optimizer
 * state), then `steps` are recorded; outside them each op costs one flag check.
 *
 * @example
 * const recorder = new StepRecorder({ warmup: 2, steps: 5 });
 * const previous = setOpObserver(recorder);
 * try { trainer.fit({ steps: 7 }); } finally { setOpObserver(previous); }
 * recorder.recording().ops.length;
 */
export class StepRecorder implements OpObserver {
  private seen = 0;
  private active = false;
  private depth = 0;
  private backwardDepth = 0;
  private lastTotal = -1;
  private report: MemoryReport | null = null;
  private readonly rec: Omit<Recording, "memoryReport"> = {
    steps: [],
    ops: [],
    data: [],
    optimizer: [],
    replay: [],
    collectives: [],
    blocked: [],
    loader: [],
    memory: [],
  };

  constructor(readonly window: { warmup: number; steps: number }) {}

  /** Whether a profiled step is running now (collectives are recorded only then). */
  get isRecording(): boolean {
    return this.active;
  }

  /** Profiled steps completed so far. */
  get stepsRecorded(): number {
    return this.rec.steps.length;
  }

  around<T>(op: string, phase: "forward" | "backward", fn: () => T): T {
    if (!this.active) return fn();
    const inBackward = phase === "backward" || this.backwardDepth > 0;
    const depth = this.depth++;
    if (phase === "backward") this.backwardDepth++;
    const start = performance.now();
    try {
      return fn();
    } finally {
      const end = performance.now();
      this.depth--;
      if (phase === "backward") this.backwardDepth--;
      this.rec.ops.push({ op, phase: inBackward ? "backward" : "forward", start, end, depth });
      if (depth === 0) this.sampleMemory(end);
    }
  }

  region<T>(region: StepRegion, fn: () => T): T {
    if (region === "step") return this.step(fn);
    if (!this.active) return fn();
    const start = performance.now();
    try {
      return fn();
    } finally {
      const end = performance.now();
      this.rec[region].push([start, end]);
      this.sampleMemory(end);
    }
  }

  private step<T>(fn: () => T): T {
    const { warmup, steps } = this.window;
    const profiled = this.seen >= warmup && this.seen < warmup + steps;
    if (profiled && !this.active) {
      memory.resetPeak();
      this.active = true;
      this.sampleMemory(performance.now());
    }
    const start = performance.now();
    try {
      return fn();
    } finally {
      this.seen++;
      if (profiled) {
        this.rec.steps.push([start, performance.now()]);
        if (this.seen === warmup + steps) {
          this.active = false;
          this.report = memory.report();
        }
      }
    }
  }

  loaderBatch(worker: number, start: number, end: number): void {
    // The worker's clock is wall-clock; this thread's performance.now() counts from its own origin.
    if (this.active) this.rec.loader.push({ worker, start: start - performance.timeOrigin, end: end - performance.timeOrigin });
  }

  /** Called by a TracingGroup for each collective issued while recording. */
  collective(record: CollectiveRecord): void {
    this.rec.collectives.push(record);
  }

  /** Called by a TracingGroup for each stretch the thread spent in a collective call or wait. */
  blocked(record: BlockedRecord): void {
    if (this.active) this.rec.blocked.push(record);
  }

  private sampleMemory(t: number): void {
    const now = memory.report();
    if (now.total === this.lastTotal) return;
    this.lastTotal = now.total;
    this.rec.memory.push({ t, bytes: now.current });
  }

  /** What was recorded; the steps it covers are `steps` (fewer when training ended early). */
  recording(): Recording {
    return { ...this.rec, memoryReport: this.report ?? memory.report() };
  }
}
