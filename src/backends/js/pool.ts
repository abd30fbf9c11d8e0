/**
 * 2-D max and average pooling and their gradients (PyTorch's semantics, ceil_mode false) in plain
 * TypeScript, with native/pool.cc's meta, checks and choices: the first maximum wins a tie and a
 * NaN wins (the last one), argmax indices are flat within the input plane (ih·W + iw) in either
 * layout, and the average's divisor counts the padding or not. Sums run in float64.
 */
import type { Kernels } from "../kernels.js";
import type { PoolMetaField } from "../meta.js";
import { Args } from "./args.js";
import { activationIndex } from "./conv_shape.js";
import { decode, DTYPE, encode } from "./dtype.js";
import { readMeta } from "./kernel_args.js";

/**
 * Field indices of a pooling meta: [N, C, H, W, kh, kw, strideH, strideW, padH, padW, dilationH,
 * dilationW, layout], layout 0 for NCHW and 1 for NHWC; the addon's (native/meta_fields.h), as
 * test/backends/js/meta_fields.test.ts checks.
 *
 * @example
 * meta[POOL_META.layout]; // 1 for channels last
 */
export const POOL_META = { n: 0, c: 1, h: 2, w: 3, kh: 4, kw: 5, sh: 6, sw: 7, ph: 8, pw: 9, dh: 10, dw: 11, layout: 12 } as const satisfies Record<
  PoolMetaField,
  number
>;

/**
 * A checked pooling meta [N, C, H, W, kh, kw, strideH, strideW, padH, padW, dilationH,
 * dilationW, layout] (layout 0 NCHW, 1 NHWC) with the output extent.
 */
interface PoolShape {
  n: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  channelsLast: boolean;
  oh: number;
  ow: number;
  inNumel: number;
  outNumel: number;
}

function outputExtent(args: Args, axis: string, input: number, k: number, s: number, p: number, d: number): number {
  const span = d * (k - 1) + 1;
  args.require(input + 2 * p >= span, () => `kernel ${axis} extent ${span} (dilation ${d}) exceeds the padded input ${axis} ${input + 2 * p} (padding ${p})`);
  return Math.floor((input + 2 * p - span) / s) + 1;
}

function readPoolShape(args: Args, meta: unknown): PoolShape {
  const { n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, layout } = readMeta(args, meta, POOL_META);
  args.require(layout === 0 || layout === 1, () => `layout code must be 0 (NCHW) or 1 (NHWC), got ${layout}`);
  args.require(n >= 0 && c >= 0 && h >= 1 && w >= 1, () => `input [${n}, ${c}, ${h}, ${w}] needs H, W ≥ 1 and N, C ≥ 0`);
  args.require(
    kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1 && dh >= 1 && dw >= 1,
    () => `kernel [${kh}, ${kw}], stride [${sh}, ${sw}] and dilation [${dh}, ${dw}] must be positive`,
  );
  // PyTorch's rule; it also guarantees every window holds at least one input element.
  args.require(
    ph >= 0 && pw >= 0 && 2 * ph <= kh && 2 * pw <= kw,
    () => `padding [${ph}, ${pw}] must be non-negative and at most half the kernel [${kh}, ${kw}]`,
  );
  const oh = outputExtent(args, "H", h, kh, sh, ph, dh);
  const ow = outputExtent(args, "W", w, kw, sw, pw, dw);
  const inNumel = n * c * h * w,
    outNumel = n * c * oh * ow;
  args.require(Number.isSafeInteger(inNumel), () => "the element count of x overflows");
  args.require(Number.isSafeInteger(outNumel), () => "the element count of y overflows");
  return { n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, channelsLast: layout === 1, oh, ow, inNumel, outNumel };
}

/**
 * Calls `visit(outIndex, taps)` for every output element, taps listing the input indices its
 * window covers (padding skipped) in row-major window order, with their in-plane indices.
 */
function forEachWindow(s: PoolShape, visit: (outIndex: number, taps: number[], planeTaps: number[], h0: number, w0: number) => void): void {
  const inAt = activationIndex(s.channelsLast, s.c, s.h, s.w);
  const outAt = activationIndex(s.channelsLast, s.c, s.oh, s.ow);
  for (let n = 0; n < s.n; n++) {
    for (let c = 0; c < s.c; c++) {
      for (let oy = 0; oy < s.oh; oy++) {
        for (let ox = 0; ox < s.ow; ox++) {
          const h0 = oy * s.sh - s.ph,
            w0 = ox * s.sw - s.pw;
          const taps: number[] = [],
            planeTaps: number[] = [];
          for (let ky = 0; ky < s.kh; ky++) {
            const iy = h0 + ky * s.dh;
            if (iy < 0 || iy >= s.h) continue;
            for (let kx = 0; kx < s.kw; kx++) {
              const ix = w0 + kx * s.dw;
              if (ix < 0 || ix >= s.w) continue;
              taps.push(inAt(n, c, iy, ix));
              planeTaps.push(iy * s.w + ix);
            }
          }
          visit(outAt(n, c, oy, ox), taps, planeTaps, h0, w0);
        }
      }
    }
  }
}

/**
 * Max pooling; indices (when given) get each output's flat argmax within its input plane.
 * meta = [N, C, H, W, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, layout].
 *
 * @example
 * const y = new Float32Array(1), idx = new Int32Array(1);
 * maxPool2d(0, Float32Array.of(1, 5, 5, 2), y, idx, Int32Array.of(1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1, 0)); // y = [5], idx = [1]
 */
export const maxPool2d: Kernels["maxPool2d"] = (dtype, x, y, indices, meta) => {
  const args = new Args("max_pool2d");
  const type = args.floatDtype("dtype", dtype);
  const s = readPoolShape(args, meta);
  args.sized("x", x, type, s.inNumel);
  args.sized("y", y, type, s.outNumel);
  if (indices !== null && indices !== undefined) args.sized("indices", indices, DTYPE.int32, s.outNumel);
  args.require(s.h * s.w <= 2 ** 31 - 1, () => `an input plane of ${s.h * s.w} elements overflows the int32 indices`);
  const xv = decode(type, x),
    out = new Float64Array(s.outNumel);
  forEachWindow(s, (o, taps, planeTaps) => {
    let best = -Infinity,
      where = planeTaps[0]!;
    taps.forEach((t, i) => {
      const v = xv[t]!;
      if (v > best || Number.isNaN(v)) {
        best = v;
        where = planeTaps[i]!;
      }
    });
    out[o] = best;
    if (indices) indices[o] = where;
  });
  encode(type, out, y);
};

/**
 * dx = dy scattered (summed) to the argmax indices, overwritten; meta as maxPool2d's.
 *
 * @example
 * const dx = new Float32Array(4);
 * maxPool2dBackward(0, Float32Array.of(3), Int32Array.of(1), dx, Int32Array.of(1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1, 0)); // dx = [0, 3, 0, 0]
 */
export const maxPool2dBackward: Kernels["maxPool2dBackward"] = (dtype, dy, indices, dx, meta) => {
  const args = new Args("max_pool2d backward");
  const type = args.floatDtype("dtype", dtype);
  const s = readPoolShape(args, meta);
  args.sized("dy", dy, type, s.outNumel);
  args.sized("indices", indices, DTYPE.int32, s.outNumel);
  args.sized("dx", dx, type, s.inNumel);
  const plane = s.h * s.w;
  const bad = indices.findIndex((v) => v < 0 || v >= plane);
  args.require(bad < 0, () => `index ${indices[bad]} at position ${bad} is outside the input plane [0, ${plane})`);
  // The index is within the output's input plane: NCHW planes are `plane` elements each; NHWC
  // holds a sample's plane with its C channels interleaved.
  const g = decode(type, dy),
    acc = new Float64Array(s.inNumel),
    outPlane = s.oh * s.ow;
  for (let o = 0; o < s.outNumel; o++) {
    const at = indices[o]!;
    const i = s.channelsLast ? (Math.floor(o / (outPlane * s.c)) * plane + at) * s.c + (o % s.c) : Math.floor(o / outPlane) * plane + at;
    acc[i]! += g[o]!;
  }
  encode(type, acc, dx);
};

// The divisor of one average window: its full extent clipped to the padded input, or only the
// input elements it covers.
function avgDivisor(s: PoolShape, h0: number, w0: number, taps: number, countIncludePad: boolean): number {
  if (!countIncludePad) return taps;
  return (Math.min(h0 + s.kh, s.h + s.ph) - h0) * (Math.min(w0 + s.kw, s.w + s.pw) - w0);
}

/**
 * Average pooling is a linear map, y[o] = Σ x[t]/divisor over o's window, and its gradient is
 * the transposed map, dx[t] = Σ dy[o]/divisor over the windows holding t: one kernel body,
 * read forwards or transposed, with native's argument names and checks.
 */
function averageKernel(kernel: string, [inName, outName]: [string, string], transposed: boolean): Kernels["avgPool2d"] {
  return (dtype, input, output, meta, countIncludePad) => {
    const args = new Args(kernel);
    const type = args.floatDtype("dtype", dtype);
    const s = readPoolShape(args, meta);
    args.require(s.dh === 1 && s.dw === 1, () => `average pooling has no dilation, got [${s.dh}, ${s.dw}]`);
    const includePad = args.boolean("countIncludePad", countIncludePad);
    const [inNumel, outNumel] = transposed ? [s.outNumel, s.inNumel] : [s.inNumel, s.outNumel];
    args.sized(inName, input, type, inNumel);
    args.sized(outName, output, type, outNumel);
    const values = decode(type, input),
      acc = new Float64Array(outNumel);
    forEachWindow(s, (o, taps, _plane, h0, w0) => {
      const divisor = avgDivisor(s, h0, w0, taps.length, includePad);
      for (const t of taps) {
        if (transposed) acc[t]! += values[o]! / divisor;
        else acc[o]! += values[t]! / divisor;
      }
    });
    encode(type, acc, output);
  };
}

/**
 * Average pooling; meta as maxPool2d's with dilation [1, 1].
 *
 * @example
 * const y = new Float32Array(1);
 * avgPool2d(0, Float32Array.of(1, 2, 3, 4), y, Int32Array.of(1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1, 0), true); // y = [2.5]
 */
export const avgPool2d: Kernels["avgPool2d"] = averageKernel("avg_pool2d", ["x", "y"], false);

/**
 * dx = the input gradient of avgPool2d from dy, overwritten.
 *
 * @example
 * const dx = new Float32Array(4);
 * avgPool2dBackward(0, Float32Array.of(4), dx, Int32Array.of(1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1, 0), true); // dx = [1, 1, 1, 1]
 */
export const avgPool2dBackward: Kernels["avgPool2dBackward"] = averageKernel("avg_pool2d backward", ["dy", "dx"], true);
