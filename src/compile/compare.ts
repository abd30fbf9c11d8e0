/**
 * Two recordings of consecutive steps of one shape must be the same program: the same kernels
 * in the same order on the same temporaries, persistent arrays and inputs, with equal constants
 * and scalars. Whatever differs is a value the host computed from the step's data or its
 * position (a count of ignored targets, a random offset, a learning rate passed as a number) and
 * a replay would repeat the recorded one: such a step is not compiled. A scalar that changes per
 * step belongs in a persistent one-element tensor the host writes before each replay.
 */
import type { Entry, Operand, Trace, TensorOperand } from "./trace.js";

/**
 * Null when `a` and `b` record the same program, else where they first differ.
 * @example const difference = traceDifference(first, second);
 */
export function traceDifference(a: Trace, b: Trace): string | null {
  if (a.temps.length !== b.temps.length) return `${a.temps.length} temporaries, then ${b.temps.length}`;
  for (let i = 0; i < a.temps.length; i++)
    if (a.temps[i]!.bytes !== b.temps[i]!.bytes) return `temporary ${i} of ${a.temps[i]!.bytes} bytes, then ${b.temps[i]!.bytes}`;
  if (a.outputs.length !== b.outputs.length || !a.outputs.every((o, i) => sameTensor(o, b.outputs[i]!))) return "the outputs differ";
  if (a.handouts.length !== b.handouts.length || !a.handouts.every((h, i) => h.param === b.handouts[i]!.param && sameTensor(h.grad, b.handouts[i]!.grad))) {
    return "the gradients handed back differ";
  }
  return entriesDifference(a.entries, b.entries, "");
}

function entriesDifference(a: readonly Entry[], b: readonly Entry[], where: string): string | null {
  if (a.length !== b.length) return `${where}${a.length} entries, then ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!,
      y = b[i]!;
    const at = `${where}entry ${i} (${name(x)})`;
    if (x.kind !== y.kind || name(x) !== name(y)) return `${at}: then ${name(y)}`;
    if (x.kind === "section" && y.kind === "section") {
      const inner = entriesDifference(x.entries, y.entries, `${at} > `);
      if (inner) return inner;
    } else if (x.kind === "hook" && y.kind === "hook") {
      if (x.leaf !== y.leaf || (x.grad === null) !== (y.grad === null) || (x.grad && !sameTensor(x.grad, y.grad!))) return `${at}: another leaf or gradient`;
    } else if (x.kind === "host" && y.kind === "host") {
      if (x.grads.length !== y.grads.length || !x.grads.every((g, j) => g.leaf === y.grads[j]!.leaf && sameTensor(g.grad, y.grads[j]!.grad)))
        return `${at}: other gradients`;
    } else if (x.kind === "kernel" && y.kind === "kernel") {
      for (let j = 0; j < x.args.length; j++) {
        if (!sameOperand(x.args[j]!, y.args[j]!)) return `${at}: argument ${j} ${describe(x.args[j]!)}, then ${describe(y.args[j]!)}`;
      }
    } else if (x.kind !== "kernel" && x.kind !== "hook" && x.kind !== "host" && x.kind !== "section" && y.kind === x.kind) {
      if (
        !sameOperand(x.target, y.target) ||
        x.value !== y.value ||
        (x.source === null) !== (y.source === null) ||
        (x.source && !sameOperand(x.source, y.source!))
      ) {
        return `${at}: another target or value`;
      }
    }
  }
  return null;
}

function name(e: Entry): string {
  return e.kind === "kernel" ? e.name : e.kind === "section" || e.kind === "host" ? e.label : e.kind;
}

function sameTensor(a: TensorOperand, b: TensorOperand): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) && sameOperand(a.operand, b.operand);
}

function sameOperand(a: Operand, b: Operand): boolean {
  switch (a.kind) {
    case "temp":
      return b.kind === "temp" && a.temp === b.temp && a.byteOffset === b.byteOffset && a.length === b.length && a.array === b.array;
    case "input":
      return b.kind === "input" && a.input === b.input && a.byteOffset === b.byteOffset && a.length === b.length && a.array === b.array;
    case "persistent":
      return b.kind === "persistent" && a.view.buffer === b.view.buffer && a.view.byteOffset === b.view.byteOffset && a.view.byteLength === b.view.byteLength;
    case "const":
      return b.kind === "const" && sameBytes(a.values, b.values);
    case "value":
      return b.kind === "value" && (Object.is(a.value, b.value) || a.value === b.value);
  }
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength || a.constructor !== b.constructor) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function describe(op: Operand): string {
  switch (op.kind) {
    case "temp":
      return `temporary ${op.temp}`;
    case "input":
      return `input ${op.input}`;
    case "persistent":
      return `an array of ${op.view.byteLength} bytes that outlives the step`;
    case "const":
      return `constant [${Array.from(op.values as Float64Array).join(", ")}]`;
    case "value":
      return String(op.value);
  }
}
