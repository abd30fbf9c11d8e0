/**
 * The fusion pass over a recording (before dead entries go and the arena is planned): pairs of
 * kernel calls that a fused kernel computes in one pass, the same values, are rewritten into it.
 *
 * - matmul into a temporary, then erf-GELU of that temporary → matmulGelu, which writes the
 *   GELU and keeps the product as its pre-activation (what GELU's backward reads): a Linear with
 *   bias and GELU that the eager model ran as two kernels.
 * - add of two same-sized arrays into a temporary, then LayerNorm of that temporary →
 *   addLayerNorm, which writes the sum (the residual stream, read later) and the norm in one
 *   pass over the rows.
 *
 * The second call moves up to where the first ran, so a pair is fused only when nothing between
 * them reads or writes what the second writes, writes what it reads, or writes memory that
 * outlives the step.
 */
import { codes, metaFields } from "../backends/index.js";
import type { Entry, KernelEntry, Operand } from "./trace.js";

/** How many pairs of each kind the pass fused. */
export interface FusionCounts {
  linearGelu: number;
  addLayerNorm: number;
}

/** Temporaries an operand list touches between two entries. */
const touches = (e: Entry, temps: ReadonlySet<number>, mode: "read" | "write"): boolean => {
  if (e.kind === "section") return e.entries.some((inner) => touches(inner, temps, mode) || (mode === "write" && writesOutside(inner)));
  const list = mode === "read" ? e.reads : e.writes;
  return list.some((t) => temps.has(t));
};

const writesOutside = (e: Entry): boolean =>
  e.kind === "section" ? e.entries.some(writesOutside) : e.kind === "hook" || e.kind === "host" || ("writesOutside" in e && e.writesOutside);

function sameTemp(a: Operand | undefined, b: Operand | undefined): boolean {
  return a?.kind === "temp" && b?.kind === "temp" && a.temp === b.temp && a.byteOffset === b.byteOffset && a.length === b.length && a.array === b.array;
}

function value(op: Operand | undefined): unknown {
  return op?.kind === "value" ? op.value : undefined;
}

/** The fused call of `first` then `second`, or null where they are not a pair this pass fuses. */
function fusedPair(first: KernelEntry, second: KernelEntry): KernelEntry | null {
  const a = first.args,
    b = second.args;
  if (first.name === "matmul" && second.name === "unary") {
    const meta = a[6];
    if (meta?.kind !== "const" || (meta.values as Int32Array)[metaFields.matmul.fields.accumulate] !== 0) return null;
    if (value(b[0]) !== codes.unary.gelu_erf || value(b[1]) !== value(a[5]) || !sameTemp(a[2], b[2])) return null;
    const out = b[3]!;
    if (out.kind !== "temp") return null;
    return kernel("matmulGelu", [a[0]!, a[1]!, out, a[3]!, a[4]!, a[5]!, meta, a[2]!], first, second);
  }
  if (first.name === "binary" && second.name === "layerNorm") {
    if (value(a[0]) !== codes.binary.add || value(a[1]) !== value(b[0]) || !sameTemp(a[4], b[1])) return null;
    const x = a[2]!,
      r = a[3]!,
      sum = a[4]!;
    // Same-sized operands: no broadcasting (addLayerNorm adds element by element).
    const length = (op: Operand): number => (op.kind === "temp" || op.kind === "input" ? op.length : op.kind === "persistent" ? -1 : -2);
    if (sum.kind !== "temp" || length(x) !== sum.length || length(r) !== sum.length || !contiguous(a[5])) return null;
    // layerNorm(dtype, x, weight, bias, y, mean, rstd, rows, cols, eps, yDtype)
    return kernel("addLayerNorm", [b[0]!, x, a[1]!, r, b[2]!, b[3]!, sum, b[4]!, b[5]!, b[6]!, b[7]!, b[8]!, b[9]!, b[10]!], first, second);
  }
  return null;
}

/** Whether a binary meta [ndim, shape..., aStrides..., bStrides...] reads both operands in order. */
function contiguous(meta: Operand | undefined): boolean {
  if (meta?.kind !== "const") return false;
  const m = meta.values as Int32Array;
  const ndim = m[0]!;
  let stride = 1;
  for (let d = ndim - 1; d >= 0; d--) {
    if (m[1 + ndim + d] !== stride || m[1 + 2 * ndim + d] !== stride) return false;
    stride *= m[1 + d]!;
  }
  return true;
}

function kernel(name: KernelEntry["name"], args: Operand[], first: KernelEntry, second: KernelEntry): KernelEntry {
  const union = (x: readonly number[], y: readonly number[]): number[] => [...new Set([...x, ...y])];
  return {
    kind: "kernel",
    name,
    args,
    // The second call's reads of the first's results are now inside the fused kernel.
    reads: union(
      first.reads,
      second.reads.filter((t) => !first.writes.includes(t)),
    ),
    writes: union(first.writes, second.writes),
    writesOutside: first.writesOutside || second.writesOutside,
  };
}

/**
 * `entries` with every fusable pair rewritten (sections' bodies too); `counts` adds up the pairs.
 * @example const fused = fuse(trace.entries, counts);
 */
export function fuse(entries: readonly Entry[], counts: FusionCounts): Entry[] {
  const out: Entry[] = entries.map((e) => (e.kind === "section" ? { ...e, entries: fuse(e.entries, counts) } : e));
  for (let i = 0; i < out.length; i++) {
    const first = out[i]!;
    if (first.kind !== "kernel" || (first.name !== "matmul" && first.name !== "binary")) continue;
    for (let j = i + 1; j < out.length; j++) {
      const second = out[j]!;
      if (second.kind !== "kernel" || !second.reads.some((t) => first.writes.includes(t))) {
        if (second.kind === "kernel" && second.writes.some((t) => first.writes.includes(t))) break;
        continue;
      }
      const fused = fusedPair(first, second);
      if (fused && movable(out.slice(i + 1, j), second)) {
        out[i] = fused;
        out.splice(j, 1);
        counts[fused.name === "matmulGelu" ? "linearGelu" : "addLayerNorm"]++;
      }
      break;
    }
  }
  return out;
}

/** Whether `second` may run before `between` (it moves up past them). */
function movable(between: readonly Entry[], second: KernelEntry): boolean {
  const reads = new Set(second.reads),
    writes = new Set(second.writes);
  return between.every((e) => !touches(e, writes, "read") && !touches(e, writes, "write") && !touches(e, reads, "write") && !writesOutside(e));
}
