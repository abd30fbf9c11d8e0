/**
 * Recording a training step while it runs eagerly: a wrapper around each kernel of the active
 * backend's table, the buffer pool's acquire and release (what the step allocates is a
 * temporary), the host-write observer (fills and copies TypeScript makes itself) and
 * backward's capture observer (hooks and their callbacks run again on replay instead of being
 * recorded). Everything is put back when the recording ends, also when the step throws.
 */
import { performance } from "node:perf_hooks";

import { asBackwardPass, type BackwardCaptureObserver, setBackwardCaptureObserver } from "../autograd/hooks.js";
import { KERNEL_NAMES, type KernelName, kernels, metaFields } from "../backends/index.js";
import type { TypedArray } from "../tensor/dtype.js";
import { type HostWriteObserver, setHostWriteObserver } from "../tensor/host_write.js";
import { type PooledBuffer, pool } from "../tensor/pool.js";
import type { Tensor } from "../tensor/tensor.js";
import { type ArgRole, kernelEffect } from "./kernel_effects.js";
import type { ArrayKind, Entry, HostEntry, HostWriteEntry, Operand, SectionEntry, TempBuffer, TensorOperand, Trace } from "./trace.js";

/** What the step's body may ask of the capture: a region replay must re-enter (a no-sync scope). */
export interface Capture {
  /**
   * Runs `body` inside `wrap` now, and on every replay runs the body's recording inside `wrap`
   * again; `label` tells the kind of region apart when two recordings are compared.
   * @example capture.within("noSync", (run) => ddp.noSync(run), () => loss.backward());
   */
  within(label: string, wrap: (run: () => void) => void, body: () => void): void;
  /**
   * Runs `body` now, unrecorded, and again at this point of every replay after handing each of
   * `parameters` the gradient it holds now: the host's part of a step (the optimizer with its
   * clipping and loss scaler), whose kernels run from TypeScript. The body is kept and called
   * on each replay, so it must keep what it computes in state that outlives the step.
   * @example capture.host("optimizer", params, () => { optimizer.step(); optimizer.zeroGrad(); });
   */
  host(label: string, parameters: readonly Tensor[], body: () => void): void;
}

/** A capture that records nothing: the eager step. */
export const NO_CAPTURE: Capture = { within: (_label, wrap, body) => wrap(body), host: (_label, _parameters, body) => body() };

/** The temporaries an entry reads and writes, and whether it writes anything else. */
class Uses {
  readonly reads: number[] = [];
  readonly writes: number[] = [];
  writesOutside = false;
}

interface LiveTemp {
  readonly id: number;
  readonly start: number;
  readonly bytes: number;
}

/** Bytes of a meta or hyper array ("m") beyond which it is not a meta: a mistake in the effects table. */
const MAX_CONST_BYTES = 4096;

/**
 * Records one run of `step` (the eager step itself: its results are real). `inputs` are the
 * step's input tensors (replay takes new ones of the same shapes); `parameters` are the leaves
 * whose gradients a replay must hand back.
 * @example const { trace, outputs } = record(inputs, params, (capture) => stepBody(capture));
 */
export function record(
  inputs: readonly Tensor[],
  parameters: readonly Tensor[],
  step: (capture: Capture) => readonly Tensor[],
): { trace: Trace; outputs: readonly Tensor[] } {
  const recorder = new Recorder(inputs);
  const outputs = recorder.run(step);
  return { trace: recorder.finish(outputs, parameters), outputs };
}

class Recorder implements Capture, HostWriteObserver, BackwardCaptureObserver {
  private readonly temps: TempBuffer[] = [];
  private readonly live = new Map<ArrayBufferLike, LiveTemp>();
  private readonly stack: Entry[][] = [[]];
  private paused = 0;
  private problem: string | null = null;
  private recordMs = 0;
  private readonly inputArrays: readonly TypedArray[];

  constructor(inputs: readonly Tensor[]) {
    this.inputArrays = inputs.map((t) => t.data);
  }

  run(step: (capture: Capture) => readonly Tensor[]): readonly Tensor[] {
    const restoreKernels = this.wrapKernels();
    const restorePool = this.wrapPool();
    const previousHost = setHostWriteObserver(this);
    const previousBackward = setBackwardCaptureObserver(this);
    try {
      return step(this);
    } finally {
      setBackwardCaptureObserver(previousBackward);
      setHostWriteObserver(previousHost);
      restorePool();
      restoreKernels();
    }
  }

  finish(outputs: readonly Tensor[], parameters: readonly Tensor[]): Trace {
    const start = performance.now();
    const outs = outputs.map((t) => this.tempTensor(t, "an output"));
    const handouts: { param: Tensor; grad: TensorOperand }[] = [];
    const handed = new Set<number>();
    for (const param of parameters) {
      if (!param.grad || param.grad.disposed || !this.live.has(param.grad.data.buffer)) continue;
      const grad = this.tempTensor(param.grad, "a gradient");
      if (grad) {
        handouts.push({ param, grad });
        handed.add(grad.operand.temp);
      }
    }
    for (const o of outs) if (o) handed.add(o.operand.temp);
    for (const temp of this.live.values()) {
      if (!handed.has(temp.id)) this.fail(`a tensor of ${temp.bytes} bytes made inside the step outlives it (kept by a module or a cache)`);
    }
    this.recordMs += performance.now() - start;
    return {
      entries: this.stack[0]!,
      temps: this.temps,
      outputs: outs.filter((o): o is TensorOperand => o !== null),
      handouts,
      problem: this.problem,
      recordMs: this.recordMs,
    };
  }

  within(label: string, wrap: (run: () => void) => void, body: () => void): void {
    if (this.paused > 0) wrap(body);
    else this.section(label, wrap, () => wrap(body));
  }

  backwardPass(body: () => void): void {
    // asBackwardPass has set the pass up already: only the body is left to run.
    if (this.paused > 0) body();
    else this.section("backward", asBackwardPass, body);
  }

  host(label: string, parameters: readonly Tensor[], body: () => void): void {
    if (this.paused === 0) {
      const grads: HostEntry["grads"][number][] = [];
      for (const leaf of parameters) {
        // A gradient in memory that outlives the step (a DDP bucket's view) is put back by its hook on replay.
        if (!leaf.grad || leaf.grad.disposed || !this.live.has(leaf.grad.data.buffer)) continue;
        const grad = this.tempTensor(leaf.grad, "a gradient the host reads");
        if (grad) grads.push({ leaf, grad });
      }
      this.top().push({ kind: "host", label, run: body, grads, reads: grads.map((g) => g.grad.operand.temp), writes: [] });
    }
    this.untraced(body);
  }

  gradReady(leaf: Tensor, fire: () => void): void {
    if (this.paused === 0) {
      const grad = leaf.grad && !leaf.grad.disposed && this.live.has(leaf.grad.data.buffer) ? this.tempTensor(leaf.grad, "a hooked gradient") : null;
      this.top().push({ kind: "hook", leaf, grad, reads: grad ? [grad.operand.temp] : [], writes: [] });
    }
    this.untraced(fire);
  }

  untraced(work: () => void): void {
    this.paused++;
    try {
      work();
    } finally {
      this.paused--;
    }
  }

  fill(target: TypedArray, value: number): void {
    this.hostWrite("fill", target, null, value);
  }

  copy(target: TypedArray, source: TypedArray): void {
    this.hostWrite("copy", target, source, 0);
  }

  set(target: TypedArray, values: ArrayLike<number>): void {
    if (this.paused > 0) return;
    const kind = target.constructor as ArrayKind;
    this.hostWrite("set", target, new kind(Array.from(values)), 0);
  }

  private hostWrite(kind: HostWriteEntry["kind"], target: TypedArray, source: ArrayBufferView | null, value: number): void {
    if (this.paused > 0) return;
    const start = performance.now();
    const uses = new Uses();
    const t = this.operand(target, "w", uses);
    const s = source === null ? null : kind === "set" ? ({ kind: "const", values: source } as const) : this.operand(source, "r", uses);
    this.top().push({ kind, target: t, source: s, value, ...uses });
    this.recordMs += performance.now() - start;
  }

  /** Runs `run` now, recording what it does as a section that replay wraps in `wrap`. */
  private section(label: string, wrap: (run: () => void) => void, run: () => void): void {
    const section: SectionEntry = { kind: "section", label, wrap, entries: [] };
    this.top().push(section);
    this.stack.push(section.entries);
    try {
      run();
    } finally {
      this.stack.pop();
    }
  }

  private top(): Entry[] {
    return this.stack[this.stack.length - 1]!;
  }

  private fail(problem: string): void {
    this.problem ??= problem;
  }

  private wrapKernels(): () => void {
    const table = kernels as unknown as Record<KernelName, (...args: unknown[]) => unknown>;
    const originals = new Map<KernelName, (...args: unknown[]) => unknown>();
    for (const name of KERNEL_NAMES) {
      const effect = kernelEffect(name);
      if (effect.kind === "query") continue;
      const original = table[name];
      originals.set(name, original);
      table[name] = (...args: unknown[]): unknown => {
        if (this.paused === 0) this.kernel(name, args);
        return original.apply(table, args);
      };
    }
    return () => {
      for (const [name, original] of originals) table[name] = original;
    };
  }

  private kernel(name: KernelName, args: readonly unknown[]): void {
    const start = performance.now();
    const effect = kernelEffect(name);
    if (effect.kind !== "pure") {
      const what = {
        hostRead: "returns a value the host reads",
        random: "draws random numbers (dropout)",
        collective: "is a collective",
        lists: "takes lists of arrays (a multi-tensor optimizer step)",
      }[effect.kind as "hostRead"];
      this.fail(`the kernel ${name} ${what} inside the step`);
    } else {
      const uses = new Uses();
      const operands = args.map((arg, i) => this.operand(arg, this.role(name, effect.args[i] ?? "-", args), uses));
      this.top().push({ kind: "kernel", name, args: operands, ...uses });
    }
    this.recordMs += performance.now() - start;
  }

  /** matmul's output is read too when its meta asks to accumulate. */
  private role(name: KernelName, role: ArgRole, args: readonly unknown[]): ArgRole {
    if (role !== "c") return role;
    const meta = args[6] as Int32Array;
    return name === "matmul" && meta[metaFields.matmul.fields.accumulate] !== 0 ? "rw" : "w";
  }

  private operand(arg: unknown, role: ArgRole, uses: Uses): Operand {
    if (!ArrayBuffer.isView(arg)) return { kind: "value", value: arg };
    const view = arg as TypedArray;
    if (role === "m") {
      if (view.byteLength > MAX_CONST_BYTES) this.fail(`a meta argument of ${view.byteLength} bytes`);
      return { kind: "const", values: (view as unknown as Float64Array).slice() };
    }
    const temp = this.live.get(view.buffer);
    if (temp && view.byteOffset >= temp.start && view.byteOffset + view.byteLength <= temp.start + temp.bytes) {
      if (role === "r" || role === "rw") uses.reads.push(temp.id);
      if (role === "w" || role === "rw") uses.writes.push(temp.id);
      return { kind: "temp", temp: temp.id, byteOffset: view.byteOffset - temp.start, length: view.length, array: view.constructor as ArrayKind };
    }
    const input = this.inputArrays.findIndex(
      (a) => a.buffer === view.buffer && view.byteOffset >= a.byteOffset && view.byteOffset + view.byteLength <= a.byteOffset + a.byteLength,
    );
    if (input >= 0) {
      if (role === "w" || role === "rw") this.fail(`a kernel writes into the step's input ${input}`);
      return {
        kind: "input",
        input,
        byteOffset: view.byteOffset - this.inputArrays[input]!.byteOffset,
        length: view.length,
        array: view.constructor as ArrayKind,
      };
    }
    if (role === "w" || role === "rw") uses.writesOutside = true;
    return { kind: "persistent", view };
  }

  private tempTensor(t: Tensor, what: string): TensorOperand | null {
    const operand = this.operand(t.data, "-", new Uses());
    if (operand.kind !== "temp") {
      this.fail(`${what} of the step is not a tensor made inside it`);
      return null;
    }
    return { operand, shape: t.shape, dtype: t.dtype };
  }

  private wrapPool(): () => void {
    const acquire = pool.acquire.bind(pool),
      release = pool.release.bind(pool);
    pool.acquire = (bytes: number): PooledBuffer => {
      const buffer = acquire(bytes);
      if (this.paused === 0) {
        this.live.set(buffer.buffer, { id: this.temps.length, start: buffer.offset, bytes });
        this.temps.push({ bytes });
      }
      return buffer;
    };
    pool.release = (buffer: PooledBuffer): void => {
      this.live.delete(buffer.buffer);
      release(buffer);
    };
    return () => {
      delete (pool as { acquire?: unknown }).acquire;
      delete (pool as { release?: unknown }).release;
    };
  }
}
