/**
 * `compile(step)`: a training step's forward and backward, recorded while it runs eagerly and
 * replayed from then on, one program per input shape. A shape is recorded on two consecutive
 * steps (both real, eager steps) and compiled when the two recordings agree (compare.ts), so a
 * value the host derived from the data is never frozen into a replay; each compiled shape is
 * kept, up to a bound, after which steps of new shapes run eagerly (one message). Scalars that
 * change from step to step (the loss scale) are given as `scalars`: one-element float32 tensors
 * the step reads and that are written before every run, recorded or replayed.
 */
import { performance } from "node:perf_hooks";

import type { DType } from "../tensor/dtype.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { type Capture, NO_CAPTURE, record } from "./capture.js";
import { traceDifference } from "./compare.js";
import { type Arena, Program, type ProgramStats } from "./program.js";
import type { Trace } from "./trace.js";

/**
 * The step to compile: forward and backward on `inputs` (each run's tensors, of the shapes the
 * key says), reading the dynamic `scalars`; returns one-element results to read back (losses).
 * Regions that replay must re-enter (a no-sync scope) go through `capture.within`.
 */
export type StepBody = (inputs: readonly Tensor[], scalars: readonly Tensor[], capture: Capture) => readonly Tensor[];

export interface CompileOptions {
  /** The leaves whose gradients the step makes (the optimizer's parameters): replay hands them back as `.grad`. */
  parameters: readonly Tensor[];
  /** How many dynamic scalars the step reads (default 0). */
  scalars?: number;
  /** Most input shapes compiled (default 8); steps of further shapes run eagerly, with one message. */
  cacheSize?: number;
  /**
   * Whether replay runs stretches of kernel calls natively, in one addon call each (default
   * true; false calls every kernel from TypeScript, as the profiler does).
   */
  nativeReplay?: boolean;
  /** Whether the fusion pass rewrites pairs of kernel calls into fused kernels (default true; fuse.ts). */
  fusion?: boolean;
  /** Where the compile messages go (default: standard error). */
  log?: (line: string) => void;
}

/** Counts and times of a compiled step so far. */
export interface CompileStats {
  /** Programs built: one per distinct input shape (and key). */
  compilations: number;
  replays: number;
  /** Steps run eagerly: recorded ones, and those of shapes not compiled. */
  eagerSteps: number;
  /** Milliseconds spent compiling: the recorders' own work and building the programs. */
  compileMs: number;
  /** The last program built, or null. */
  last: ProgramStats | null;
}

/** Recordings of a shape that disagree (or cannot be replayed) this many times run eagerly from then on. */
const ATTEMPTS = 3;

interface Pending {
  trace: Trace | null;
  attempts: number;
  recordMs: number;
}

/**
 * A step compiled per input shape; `run` records, compiles or replays it.
 *
 * @example
 * const step = compile((inputs) => {
 *   const loss = crossEntropy(model.forward(inputs[0]!), inputs[1]!);
 *   loss.backward();
 *   return [loss];
 * }, { parameters: model.parameters() });
 * const [loss] = step.run([x, y]);   // gradients in each parameter's .grad, as after backward
 * optimizer.step();
 * optimizer.zeroGrad();
 */
export class CompiledStep {
  private readonly programs = new Map<string, Program>();
  private readonly pending = new Map<string, Pending>();
  private readonly eagerKeys = new Set<string>();
  private readonly scalarTensors: Tensor[];
  private readonly cacheSize: number;
  private readonly log: (line: string) => void;
  private arena: (Arena & { tensor: Tensor }) | null = null;
  private boundReported = false;
  private readonly counts: Omit<CompileStats, "last"> = { compilations: 0, replays: 0, eagerSteps: 0, compileMs: 0 };
  private lastProgram: Program | null = null;

  constructor(
    private readonly step: StepBody,
    private readonly options: CompileOptions,
  ) {
    const size = options.cacheSize ?? 8;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`compile: cacheSize must be a positive integer, got ${size}`);
    this.cacheSize = size;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.scalarTensors = Array.from({ length: options.scalars ?? 0 }, () => {
      const t = Tensor.empty([], "float32", "other");
      t.kept = true;
      return t;
    });
  }

  /** Counts and times so far. @example step.stats.compilations */
  get stats(): CompileStats {
    return { ...this.counts, last: this.lastProgram?.stats ?? null };
  }

  /**
   * One step on `inputs` with the dynamic `scalars`: replayed when its shape is compiled, else
   * run eagerly (and recorded while the shape is new). `key` adds what else decides the
   * program (the micro-batch count). Returns the step's results' values.
   * @example const [loss] = step.run([x, y], [scaler.getScale()]);
   */
  run(inputs: readonly Tensor[], scalars: readonly number[] = [], key = ""): number[] {
    if (scalars.length !== this.scalarTensors.length)
      throw new RangeError(`compile: the step reads ${this.scalarTensors.length} scalars, got ${scalars.length}`);
    scalars.forEach((value, i) => {
      (this.scalarTensors[i]!.data as Float32Array)[0] = value;
    });
    const arena = this.arena?.storage;
    if (arena && this.options.parameters.some((p) => p.grad && !p.grad.disposed && p.grad.storage === arena)) {
      throw new Error("compile: the last replay's gradients are still held; drop them (optimizer.zeroGrad()) before the next step, which reuses their memory");
    }
    const shapeKey = `${inputs.map((t) => `${t.dtype}${formatShape(t.shape)}`).join(" ")}${key ? ` ${key}` : ""}`;
    // Which parameters already hold a gradient decides whether backward writes or adds into it.
    const held = this.options.parameters.map((p) => (p.grad && !p.grad.disposed ? "1" : "0")).join("");
    const fullKey = `${shapeKey}|${held}`;
    const program = this.programs.get(fullKey);
    if (program) {
      this.counts.replays++;
      return program.replay(inputs, this.arenaOf(program.arenaBytes));
    }
    if (this.eagerKeys.has(fullKey) || !this.mayCompile(shapeKey, fullKey)) return this.eager(inputs);
    return this.recordStep(inputs, fullKey, shapeKey);
  }

  /** Gives back the programs' buffers and the arena. @example step.dispose() */
  dispose(): void {
    for (const p of this.programs.values()) p.dispose();
    this.programs.clear();
    this.pending.clear();
    for (const t of this.scalarTensors) {
      t.kept = false;
      t.dispose();
    }
    if (this.arena) this.releaseArena();
  }

  private mayCompile(shapeKey: string, fullKey: string): boolean {
    if (this.pending.has(fullKey) || this.programs.size + this.pending.size < this.cacheSize) return true;
    if (!this.boundReported) {
      this.boundReported = true;
      this.log(
        `compile: ${this.cacheSize} step shapes are compiled, the cache's bound (train.compileCacheSize); steps of other shapes run eagerly (the first: ${shapeKey})`,
      );
    }
    return false;
  }

  private eager(inputs: readonly Tensor[]): number[] {
    this.counts.eagerSteps++;
    return readBack(this.step(inputs, this.scalarTensors, NO_CAPTURE));
  }

  private recordStep(inputs: readonly Tensor[], fullKey: string, shapeKey: string): number[] {
    this.counts.eagerSteps++;
    const { trace, outputs } = record(inputs, this.options.parameters, (capture) => this.step(inputs, this.scalarTensors, capture));
    const values = readBack(outputs);
    const pending = this.pending.get(fullKey) ?? { trace: null, attempts: 0, recordMs: 0 };
    pending.recordMs += trace.recordMs;
    const problem = trace.problem ?? (pending.trace ? traceDifference(pending.trace, trace) : null);
    if (problem !== null) {
      pending.attempts++;
      pending.trace = trace.problem ? null : trace;
      if (pending.attempts >= ATTEMPTS) {
        this.pending.delete(fullKey);
        this.eagerKeys.add(fullKey);
        this.log(`compile: steps of shape ${shapeKey} run eagerly: ${problem}`);
      } else this.pending.set(fullKey, pending);
      return values;
    }
    if (!pending.trace) {
      pending.trace = trace;
      this.pending.set(fullKey, pending);
      return values;
    }
    const start = performance.now();
    const program = new Program(
      trace,
      inputs.map((t) => ({ shape: [...t.shape], dtype: t.dtype as DType })),
      this.options.nativeReplay ?? true,
      this.options.fusion ?? true,
    );
    const ms = pending.recordMs + (performance.now() - start);
    this.pending.delete(fullKey);
    this.programs.set(fullKey, program);
    this.counts.compilations++;
    this.counts.compileMs += ms;
    this.lastProgram = program;
    const s = program.stats;
    this.log(
      `compile: step of shape ${shapeKey} compiled in ${ms.toFixed(0)} ms: ${s.kernels} kernel calls, ${s.hostCalls} host calls, ` +
        `${s.fused.linearGelu + s.fused.addLayerNorm} pairs fused, ${s.removed} dead entries removed, ${s.temps} temporaries in an arena of ${mib(s.arenaBytes)} (${mib(s.unplannedBytes)} unshared)`,
    );
    return values;
  }

  private arenaOf(bytes: number): Arena {
    if (this.arena && this.arena.bytes >= bytes) return this.arena;
    if (this.arena) this.releaseArena();
    const size = Math.max(64, Math.ceil(bytes / 64) * 64);
    const tensor = Tensor.empty([size / 4], "float32", "activation");
    tensor.kept = true;
    this.arena = { tensor, storage: tensor.storage, bytes: size };
    return this.arena;
  }

  private releaseArena(): void {
    // Gradients handed out from it keep it alive until they are dropped (zeroGrad).
    this.arena!.tensor.kept = false;
    this.arena!.tensor.dispose();
    this.arena = null;
  }
}

/**
 * Compiles a training step (see CompiledStep): recorded on the first two steps of each input
 * shape, replayed from the third.
 * @example const step = compile((inputs) => { const l = lossOf(inputs); l.backward(); return [l]; }, { parameters: model.parameters() });
 */
export function compile(step: StepBody, options: CompileOptions): CompiledStep {
  return new CompiledStep(step, options);
}

/** The results' values; the results are disposed. */
function readBack(outputs: readonly Tensor[]): number[] {
  return outputs.map((t) => {
    try {
      return t.item();
    } finally {
      t.dispose();
    }
  });
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
}
