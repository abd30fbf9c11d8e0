/**
 * A replayable step: the rewritten recording bound to an arena, as a flat list of kernel calls
 * whose every argument is already resolved (arena views, the program's own input buffers,
 * persistent arrays, constants), with the host writes, hooks and sections between them. Replay
 * runs no op, records no autograd node, opens no tidy scope and allocates no tensor memory: it
 * copies the inputs in, runs the calls (stretches of kernel calls natively, in one addon call
 * each: replay_loop.ts) and reads the outputs back.
 */
import { fireGradReady } from "../autograd/hooks.js";
import { kernels } from "../backends/index.js";
import { DTYPES, type DType, type TypedArray } from "../tensor/dtype.js";
import type { Storage } from "../tensor/storage.js";
import { Tensor } from "../tensor/tensor.js";
import { type FusionCounts, fuse } from "./fuse.js";
import { type ArenaPlan, planArena, withoutDeadEntries } from "./plan.js";
import { type Call, type NativeCounts, runCalls, withNativeRuns } from "./replay_loop.js";
import type { Entry, Operand, Trace, TensorOperand } from "./trace.js";

/** What the rewrite did and what replay runs. */
export interface ProgramStats {
  /** Kernel calls a replay makes. */
  kernels: number;
  /** Host writes (fills, copies) and hooks a replay runs between them. */
  hostCalls: number;
  /** Entries the rewrite removed as dead. */
  removed: number;
  /** Pairs of kernel calls the fusion pass rewrote into one fused kernel (fuse.ts). */
  fused: FusionCounts;
  /** Temporaries planned into the arena, and its size. */
  temps: number;
  arenaBytes: number;
  /** What the temporaries would take without sharing. */
  unplannedBytes: number;
  /** Kernel calls replayed natively, in how many runs (0 before the first replay, or without the addon's loop). */
  nativeKernels: number;
  nativeRuns: number;
}

/** The arena a program's temporaries live in: one storage, shared by the programs of one compiled step. */
export interface Arena {
  readonly storage: Storage;
  readonly bytes: number;
}

export class Program {
  private readonly counted: Omit<ProgramStats, "nativeKernels" | "nativeRuns">;
  private readonly native: NativeCounts = { kernels: 0, runs: 0 };
  private readonly entries: readonly Entry[];
  private readonly plan: ArenaPlan;
  private readonly inputs: readonly Tensor[];
  private bound: { arena: Arena; calls: readonly Call[]; outputs: readonly TypedArray[]; handouts: readonly (() => void)[] } | null = null;
  private readonly decoded = new Float32Array(1);

  constructor(
    private readonly trace: Trace,
    inputs: readonly { shape: readonly number[]; dtype: DType }[],
    /** Whether stretches of kernel calls replay natively (else each from TypeScript). */
    private readonly nativeReplay = true,
    /** Whether the fusion pass runs. */
    fusion = true,
  ) {
    const fused: FusionCounts = { linearGelu: 0, addLayerNorm: 0 };
    const { entries, removed } = withoutDeadEntries(fusion ? { ...trace, entries: fuse(trace.entries, fused) } : trace);
    this.entries = entries;
    this.plan = planArena(trace, entries);
    this.inputs = inputs.map(({ shape, dtype }) => {
      const t = Tensor.empty(shape, dtype, "other");
      t.kept = true;
      return t;
    });
    let kernelCalls = 0,
      hostCalls = 0;
    const count = (list: readonly Entry[]): void => {
      for (const e of list) {
        if (e.kind === "section") count(e.entries);
        else if (e.kind === "kernel") kernelCalls++;
        else hostCalls++;
      }
    };
    count(entries);
    const used = this.plan.offsets.filter((o) => o >= 0).length;
    this.counted = {
      kernels: kernelCalls,
      hostCalls,
      removed,
      fused,
      temps: used,
      arenaBytes: this.plan.bytes,
      unplannedBytes: trace.temps.reduce((n, t, id) => n + (this.plan.offsets[id]! >= 0 ? t.bytes : 0), 0),
    };
  }

  /** What the rewrite did and what replay runs. @example program.stats.nativeKernels */
  get stats(): ProgramStats {
    return { ...this.counted, nativeKernels: this.native.kernels, nativeRuns: this.native.runs };
  }

  /** Bytes of arena this program needs. */
  get arenaBytes(): number {
    return this.plan.bytes;
  }

  /**
   * Replays the step on `inputs` (the shapes and dtypes it was recorded with) in `arena`;
   * returns the outputs' values. Parameters' gradients made by the step are arena views after.
   * @example const [loss] = program.replay([x, y], arena);
   */
  replay(inputs: readonly Tensor[], arena: Arena): number[] {
    if (this.bound?.arena !== arena) this.bound = this.bind(arena);
    inputs.forEach((t, i) => {
      this.inputs[i]!.data.set(t.data);
    });
    runCalls(this.bound.calls, false);
    for (const handout of this.bound.handouts) handout();
    return this.bound.outputs.map((view, i) => this.read(view, this.trace.outputs[i]!.dtype));
  }

  /** Gives back the program's input buffers. */
  dispose(): void {
    for (const t of this.inputs) {
      t.kept = false;
      t.dispose();
    }
    this.bound = null;
  }

  private read(view: TypedArray, dtype: DType): number {
    if (dtype === "float32" || dtype === "int32") return view[0]!;
    kernels.cast(DTYPES[dtype].code, view, DTYPES.float32.code, this.decoded);
    return this.decoded[0]!;
  }

  private bind(arena: Arena): NonNullable<Program["bound"]> {
    const base = arena.storage.byteOffset;
    const buffer = arena.storage.buffer as ArrayBuffer;
    const resolve = (op: Operand): unknown => {
      switch (op.kind) {
        case "temp":
          return new op.array(buffer, base + this.plan.offsets[op.temp]! + op.byteOffset, op.length);
        case "input": {
          const store = this.inputs[op.input]!.data;
          return new op.array(store.buffer as ArrayBuffer, store.byteOffset + op.byteOffset, op.length);
        }
        case "persistent":
          return op.view;
        case "const":
          return op.values;
        case "value":
          return op.value;
      }
    };
    const gradOf = (g: TensorOperand): (() => Tensor) => {
      const view = resolve(g.operand) as TypedArray;
      return () => {
        arena.storage.retain();
        const t = new Tensor(arena.storage, view, g.shape, g.dtype, false);
        t.kept = true;
        return t;
      };
    };
    const handTo = (leaf: Tensor, g: TensorOperand): (() => void) => {
      const make = gradOf(g);
      const view = resolve(g.operand) as TypedArray;
      return () => {
        const held = leaf.grad;
        if (held && !held.disposed && held.data.buffer === view.buffer && held.data.byteOffset === view.byteOffset) return;
        leaf.grad = make();
      };
    };
    const table = kernels as unknown as Record<string, (...args: unknown[]) => unknown>;
    const calls = (list: readonly Entry[]): Call[] =>
      list.map((e): Call => {
        switch (e.kind) {
          case "kernel": {
            return { name: e.name, fn: table[e.name]!, self: kernels, args: e.args.map(resolve), kernel: true };
          }
          case "fill": {
            const target = resolve(e.target) as TypedArray;
            return { name: "fill", fn: () => target.fill(e.value), args: [] };
          }
          case "copy":
          case "set": {
            const target = resolve(e.target) as TypedArray,
              source = resolve(e.source!) as TypedArray;
            return { name: e.kind, fn: () => target.set(source), args: [] };
          }
          case "hook": {
            const hand = e.grad ? handTo(e.leaf, e.grad) : null;
            return {
              name: "hook",
              fn: () => {
                hand?.();
                fireGradReady(e.leaf);
              },
              args: [],
            };
          }
          case "host": {
            const hands = e.grads.map(({ leaf, grad }) => handTo(leaf, grad));
            return {
              name: e.label,
              fn: () => {
                for (const hand of hands) hand();
                e.run();
              },
              args: [],
            };
          }
          case "section":
            return { name: e.label, fn: null, args: [], wrap: e.wrap, body: calls(e.entries) };
        }
      });
    this.native.kernels = this.native.runs = 0;
    const bound = calls(this.entries);
    return {
      arena,
      calls: this.nativeReplay ? withNativeRuns(bound, this.native) : bound,
      outputs: this.trace.outputs.map((o) => resolve(o.operand) as TypedArray),
      handouts: this.trace.handouts.map(({ param, grad }) => handTo(param, grad)),
    };
  }
}
