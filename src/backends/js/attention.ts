/**
 * Scaled-dot-product attention, softmax(scale·Q·Kᵀ + causal mask)·V, and its gradients in plain
 * TypeScript over native/attention.cc's arguments: b × h heads of t rows of d, each operand read
 * through its own [offset, batch, head, time] element strides (so a packed qkv needs no copy),
 * the f32 log-sum-exp of each query row saved for backward. The whole t × t score row is formed
 * in float64: there is no tiling, and `block` (native's tile size) is only checked.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, DTYPE, encodeOne, type Elements } from "./dtype.js";
import { cNumber } from "./kernel_args.js";

/** Native's largest tile; the js kernels take the same range of `block` so a call fails alike. */
const MAX_BLOCK = 256;

/** Column c of row i of head hd of batch bt lies at offset + bt·batch + hd·head + i·time + c. */
interface Layout {
  offset: number;
  batch: number;
  head: number;
  time: number;
}

interface Problem {
  b: number;
  h: number;
  t: number;
  d: number;
  scale: number;
  causal: boolean;
  q: Layout;
  k: Layout;
  v: Layout;
  out: Layout;
}

type ProblemArgs = [b: unknown, h: unknown, t: unknown, d: unknown, layout: unknown, scale: unknown, causal: unknown, block: unknown];

function readProblem(args: Args, [b, h, t, d, layout, scale, causal, block]: ProblemArgs): Problem {
  const [bv, hv, tv, dv] = [args.integer("b", b), args.integer("h", h), args.integer("t", t), args.integer("d", d)];
  const blockSize = args.integer("block", block);
  const isCausal = args.boolean("causal", causal);
  args.numel([bv, hv, tv, dv]);
  args.require(dv >= 1, () => `the head dimension d must be >= 1, got ${dv}`);
  args.require(blockSize >= 1 && blockSize <= MAX_BLOCK, () => `block size must be an integer in [1, ${MAX_BLOCK}], got ${blockSize}`);
  const s = args.number("scale", scale);
  args.require(Number.isFinite(s), () => `scale must be a finite number, got ${cNumber(s)}`);
  const e = args.ints("layout", layout, 16);
  for (let i = 0; i < 16; i++) args.require(e[i]! >= 0, () => `layout entry ${i} must be >= 0, got ${e[i]}`);
  const at = (i: number): Layout => ({ offset: e[4 * i]!, batch: e[4 * i + 1]!, head: e[4 * i + 2]!, time: e[4 * i + 3]! });
  return { b: bv, h: hv, t: tv, d: dv, scale: s, causal: isCausal, q: at(0), k: at(1), v: at(2), out: at(3) };
}

// Checks that `array` stores the dtype and holds every element the layout reaches (computed
// exactly, in BigInt: a far layout must fail, not wrap around).
function checkOperand(args: Args, name: string, array: unknown, dtype: number, l: Layout, pb: Problem): void {
  const numel = args.elements(name, array, dtype);
  if (pb.b === 0 || pb.h === 0 || pb.t === 0) return;
  const last = BigInt(l.offset + pb.d - 1) + BigInt(pb.b - 1) * BigInt(l.batch) + BigInt(pb.h - 1) * BigInt(l.head) + BigInt(pb.t - 1) * BigInt(l.time);
  args.require(last < 2n ** 63n, () => `'${name}' is used beyond element 2^63 by its layout`);
  args.require(last < BigInt(numel), () => `'${name}' is used up to element ${last} but holds ${numel} elements`);
}

// What both kernels check first, in native's order: the dtype, the problem, then q, k, v and out.
function readCall(kernel: string, dtype: unknown, [q, k, v, out]: unknown[], problem: ProblemArgs) {
  const args = new Args(kernel);
  const dt = args.floatDtype("dtype", dtype);
  const pb = readProblem(args, problem);
  checkOperand(args, "q", q, dt, pb.q, pb);
  checkOperand(args, "k", k, dt, pb.k, pb);
  checkOperand(args, "v", v, dt, pb.v, pb);
  checkOperand(args, "out", out, dt, pb.out, pb);
  return { args, dt, pb };
}

/** The element index of row `row` of head `bh` (batch-major: bh = bt·h + hd) under l. */
function rowAt(pb: Problem, l: Layout, bh: number, row: number): number {
  return l.offset + Math.floor(bh / pb.h) * l.batch + (bh % pb.h) * l.head + row * l.time;
}

function dot(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  let sum = 0;
  for (let c = 0; c < d; c++) sum += a[i + c]! * b[j + c]!;
  return sum;
}

/** Keys query row i sees: all t, or 0..i when causal. */
function visibleKeys(pb: Problem, i: number): number {
  return pb.causal ? i + 1 : pb.t;
}

/**
 * out = softmax(scale·q·kᵀ, causal-masked when causal)·v over b × h heads of t rows of d; lse [b·h,
 * t] (when not null) gets each query row's log-sum-exp. layout holds [offset, batch, head, time]
 * element strides of q, k, v and out in turn; q, k, v may be one array.
 *
 * @example
 * attention(0, q, k, v, out, lse, 2, 4, 16, 8, Int32Array.from([0, 1, 2, 3].flatMap(() => [0, 512, 128, 8])), 1 / Math.sqrt(8), true, 64);
 */
export const attention: Kernels["attention"] = (dtype, q, k, v, out, lse, b, h, t, d, layout, scale, causal, block) => {
  const { args, dt, pb } = readCall("attention", dtype, [q, k, v, out], [b, h, t, d, layout, scale, causal, block]);
  if (lse !== null && lse !== undefined) args.sized("lse", lse, DTYPE.float32, pb.b * pb.h * pb.t);

  const qv = decode(dt, q),
    kv = decode(dt, k),
    vv = decode(dt, v);
  const scores = new Float64Array(pb.t),
    row = new Float64Array(pb.d);
  for (let bh = 0; bh < pb.b * pb.h; bh++) {
    for (let i = 0; i < pb.t; i++) {
      const keys = visibleKeys(pb, i),
        qi = rowAt(pb, pb.q, bh, i);
      let max = -Infinity;
      for (let j = 0; j < keys; j++) {
        scores[j] = pb.scale * dot(qv, qi, kv, rowAt(pb, pb.k, bh, j), pb.d);
        max = Math.max(max, scores[j]!);
      }
      let sum = 0;
      row.fill(0);
      for (let j = 0; j < keys; j++) {
        const p = Math.exp(scores[j]! - max),
          vj = rowAt(pb, pb.v, bh, j);
        sum += p;
        for (let c = 0; c < pb.d; c++) row[c]! += p * vv[vj + c]!;
      }
      const oi = rowAt(pb, pb.out, bh, i);
      for (let c = 0; c < pb.d; c++) encodeOne(dt, row[c]! / sum, out, oi + c);
      if (lse) lse[bh * pb.t + i] = max + Math.log(sum);
    }
  }
};

/**
 * Gradients of attention from grad, the saved out and lse; dq, dk and dv are overwritten where
 * not null. grad takes out's layout, dq, dk and dv those of q, k and v (and may be one array).
 * With P = exp(scale·Q·Kᵀ − lse) and Δ_i = Σ grad_i·out_i: dV = Pᵀ·grad, dS = P∘(grad·Vᵀ − Δ),
 * dQ = scale·dS·K, dK = scale·dSᵀ·Q.
 *
 * @example
 * attentionBackward(0, q, k, v, out, lse, grad, dq, dk, dv, 2, 4, 16, 8, layout, 1 / Math.sqrt(8), true, 64);
 */
export const attentionBackward: Kernels["attentionBackward"] = (dtype, q, k, v, out, lse, grad, dq, dk, dv, b, h, t, d, layout, scale, causal, block) => {
  const { args, dt, pb } = readCall("attentionBackward", dtype, [q, k, v, out], [b, h, t, d, layout, scale, causal, block]);
  args.sized("lse", lse, DTYPE.float32, pb.b * pb.h * pb.t);
  checkOperand(args, "grad", grad, dt, pb.out, pb);
  const given = (a: Elements | null): a is Elements => a !== null && a !== undefined;
  if (given(dq)) checkOperand(args, "dq", dq, dt, pb.q, pb);
  if (given(dk)) checkOperand(args, "dk", dk, dt, pb.k, pb);
  if (given(dv)) checkOperand(args, "dv", dv, dt, pb.v, pb);

  const qv = decode(dt, q),
    kv = decode(dt, k),
    vv = decode(dt, v),
    ov = decode(dt, out),
    gv = decode(dt, grad);
  const { t: rows, d: cols } = pb;
  const dQ = new Float64Array(rows * cols),
    dK = new Float64Array(rows * cols),
    dV = new Float64Array(rows * cols);
  const store = (target: Elements | null, l: Layout, acc: Float64Array, bh: number): void => {
    if (!given(target)) return;
    for (let i = 0; i < rows; i++) {
      const at = rowAt(pb, l, bh, i);
      for (let c = 0; c < cols; c++) encodeOne(dt, acc[i * cols + c]!, target, at + c);
    }
  };
  for (let bh = 0; bh < pb.b * pb.h; bh++) {
    dQ.fill(0);
    dK.fill(0);
    dV.fill(0);
    for (let i = 0; i < rows; i++) {
      const qi = rowAt(pb, pb.q, bh, i),
        gi = rowAt(pb, pb.out, bh, i);
      const delta = dot(gv, gi, ov, gi, cols),
        shift = lse[bh * rows + i]!;
      for (let j = 0; j < visibleKeys(pb, i); j++) {
        const kj = rowAt(pb, pb.k, bh, j),
          vj = rowAt(pb, pb.v, bh, j);
        const p = Math.exp(pb.scale * dot(qv, qi, kv, kj, cols) - shift);
        const ds = p * (dot(gv, gi, vv, vj, cols) - delta);
        for (let c = 0; c < cols; c++) {
          dV[j * cols + c]! += p * gv[gi + c]!;
          dQ[i * cols + c]! += pb.scale * ds * kv[kj + c]!;
          dK[j * cols + c]! += pb.scale * ds * qv[qi + c]!;
        }
      }
    }
    store(dq, pb.q, dQ, bh);
    store(dk, pb.k, dK, bh);
    store(dv, pb.v, dV, bh);
  }
};
