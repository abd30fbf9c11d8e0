/**
 * The recording of one training step: every kernel call with its arguments resolved to what
 * they refer to (a temporary made inside the step, a step input, memory that outlives the step,
 * a constant), the host's own writes, the hooks backward ran, and the sections (a backward
 * call, a no-sync region) that replay must re-enter. capture.ts makes one; plan.ts and
 * program.ts turn it into a replayable program.
 */
import type { KernelName } from "../backends/index.js";
import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";

/** The constructor of a tensor's typed array. */
export type ArrayKind = Float32ArrayConstructor | Uint16ArrayConstructor | Int32ArrayConstructor | Float64ArrayConstructor;

/** What one kernel argument refers to. Offsets are in bytes; lengths in elements. */
export type Operand =
  /** Part of a buffer allocated inside the step (planned into the arena). */
  | { readonly kind: "temp"; readonly temp: number; readonly byteOffset: number; readonly length: number; readonly array: ArrayKind }
  /** Part of the step's input `input` (copied into the program's own buffer before each replay). */
  | { readonly kind: "input"; readonly input: number; readonly byteOffset: number; readonly length: number; readonly array: ArrayKind }
  /** Memory that outlives the step (a parameter, optimizer state, a dynamic scalar): the same array every replay. */
  | { readonly kind: "persistent"; readonly view: ArrayBufferView }
  /** A packed meta or hyper array, copied when recorded. */
  | { readonly kind: "const"; readonly values: ArrayBufferView }
  /** A number, flag, code or null. */
  | { readonly kind: "value"; readonly value: unknown };

/** A kernel call, with which temporaries it reads and writes. */
export interface KernelEntry {
  readonly kind: "kernel";
  readonly name: KernelName;
  readonly args: readonly Operand[];
  readonly reads: readonly number[];
  readonly writes: readonly number[];
  /** Whether it writes memory that outlives the step (it is never dead). */
  readonly writesOutside: boolean;
}

/** A write the host made itself (create.ts's fill and tensor(), inplace.ts's copies). */
export interface HostWriteEntry {
  readonly kind: "fill" | "copy" | "set";
  readonly target: Operand;
  /** copy: the source; set: the values (a const). */
  readonly source: Operand | null;
  readonly value: number;
  readonly reads: readonly number[];
  readonly writes: readonly number[];
  readonly writesOutside: boolean;
}

/** A leaf's post-accumulate-grad hooks, run again on replay with the leaf's gradient at that point. */
export interface HookEntry {
  readonly kind: "hook";
  readonly leaf: Tensor;
  /** The leaf's `.grad` when the hooks ran, where it was a temporary: replay hands it over first. */
  readonly grad: TensorOperand | null;
  readonly reads: readonly number[];
  readonly writes: readonly number[];
}

/** The host's part of the step (the optimizer), run again on replay after handing each leaf its gradient. */
export interface HostEntry {
  readonly kind: "host";
  readonly label: string;
  readonly run: () => void;
  /** The gradients the leaves held when it ran (temporaries). */
  readonly grads: readonly { readonly leaf: Tensor; readonly grad: TensorOperand }[];
  readonly reads: readonly number[];
  readonly writes: readonly number[];
}

/** Runs its body inside a wrapper (a backward call, a no-sync region); `label` identifies the kind. */
export interface SectionEntry {
  readonly kind: "section";
  readonly label: string;
  readonly wrap: (body: () => void) => void;
  readonly entries: Entry[];
}

export type Entry = KernelEntry | HostWriteEntry | HookEntry | HostEntry | SectionEntry;

/** A temporary tensor's operand with its shape and dtype (a gradient handed to TypeScript). */
export interface TensorOperand {
  readonly operand: Operand & { kind: "temp" };
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** A buffer allocated inside the step: its size, and where its data started when recorded. */
export interface TempBuffer {
  readonly bytes: number;
}

/** A finished recording. `problem` says why it cannot be replayed (null when it can). */
export interface Trace {
  readonly entries: readonly Entry[];
  readonly temps: readonly TempBuffer[];
  /** The step's results, read back after each replay (one-element tensors: losses). */
  readonly outputs: readonly TensorOperand[];
  /** Parameters whose `.grad` is a temporary when the step ends: replay hands those over. */
  readonly handouts: readonly { readonly param: Tensor; readonly grad: TensorOperand }[];
  readonly problem: string | null;
  /** Milliseconds the recorder spent on its own bookkeeping. */
  readonly recordMs: number;
}

/** Every entry of a trace in the order it ran, sections opened (depth first). */
export function* flatEntries(entries: readonly Entry[]): Generator<Entry> {
  for (const e of entries) {
    yield e;
    if (e.kind === "section") yield* flatEntries(e.entries);
  }
}
