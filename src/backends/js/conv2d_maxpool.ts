/**
 * The convolution fused with the 2×2, stride-2 max pooling after it (F.max_pool2d(F.conv2d(x, w,
 * b), 2) in channels-last f32) and its weight gradient, as native/conv_pool.cc takes them: only
 * few-channel convolutions native's direct kernels fit. Here it is the convolution, each output
 * rounded to f32 as native's is, then the pooling; the gradient routes each window's gradient to
 * the position its code names and takes the convolution's weight gradient.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { convolve, convWeightGradients } from "./conv2d.js";
import { convText, readConvShape, type ConvShape } from "./conv_shape.js";
import { decode, DTYPE } from "./dtype.js";
import { optionalF32 } from "./kernel_args.js";

/** At most this many input channels (native/conv_few_channels.h's kFewChannels). */
const FEW_CHANNELS = 4;
/** Output channels: a multiple of this, at most four of it (native/lanes.h's kTileLanes). */
const TILE_LANES = 16;

// The convolutions native's direct kernels take (the output size aside).
function fewChannels(s: ConvShape): boolean {
  return s.channelsLast && s.groups === 1 && s.c <= FEW_CHANNELS && s.o % TILE_LANES === 0 && s.o <= 4 * TILE_LANES;
}

// What both fused kernels check first: the meta, that the direct kernels take it, and x.
function readFused(args: Args, x: unknown, meta: unknown): { s: ConvShape; pooledNumel: number } {
  const s = readConvShape(args, meta);
  args.require(
    fewChannels(s),
    () =>
      `needs a float32 channels-last convolution without groups, with at most ${FEW_CHANNELS} input channels and 16, 32, ` +
      `48 or 64 output channels: ${convText(s)}`,
  );
  args.require(s.oh >= 2 && s.ow >= 2, () => `the convolution's output ${s.oh}x${s.ow} is smaller than the 2x2 pooling window`);
  const pooledNumel = s.n * Math.floor(s.oh / 2) * Math.floor(s.ow / 2) * s.o;
  args.sized("x", x, DTYPE.float32, s.xNumel);
  return { s, pooledNumel };
}

/**
 * Whether conv2dMaxPool takes the convolution of meta with dtype operands (f32 NHWC, no groups,
 * ≤ 4 input channels, 16·k ≤ 64 outputs, output ≥ 2×2), as native chooses; throws on a bad meta.
 *
 * @example
 * conv2dDirectFits(0, Int32Array.of(1, 1, 28, 28, 32, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1)); // true
 */
export const conv2dDirectFits: Kernels["conv2dDirectFits"] = (dtype, meta) => {
  const args = new Args("conv2dDirectFits");
  const type = args.floatDtype("dtype", dtype);
  const s = readConvShape(args, meta);
  return type === DTYPE.float32 && fewChannels(s) && s.oh >= 2 && s.ow >= 2;
};

/**
 * The window position (0, 1 top row; 2, 3 bottom row) of each 2×2 window's maximum in y [N, OH,
 * OW, O]: the first maximum, or the last NaN, as max_pool2d chooses. Calls `visit(pooledIndex,
 * code, value)` per pooled element.
 */
function poolWindows(s: ConvShape, y: Float64Array, visit: (pooledIndex: number, code: number, value: number) => void): void {
  const ph = Math.floor(s.oh / 2),
    pw = Math.floor(s.ow / 2);
  for (let n = 0; n < s.n; n++) {
    for (let py = 0; py < ph; py++) {
      for (let px = 0; px < pw; px++) {
        for (let o = 0; o < s.o; o++) {
          let best = NaN,
            code = -1;
          for (let q = 0; q < 4; q++) {
            const v = y[((n * s.oh + 2 * py + (q >> 1)) * s.ow + 2 * px + (q & 1)) * s.o + o]!;
            if (code < 0 || v > best || Number.isNaN(v)) {
              best = v;
              code = q;
            }
          }
          visit(((n * ph + py) * pw + px) * s.o + o, code, best);
        }
      }
    }
  }
}

/**
 * pooled = max_pool2d(conv2d(x, w) + bias, 2) in NHWC f32 and, where given, codes = each
 * maximum's window position 0..3; meta as conv2d's.
 *
 * @example
 * conv2dMaxPool(x, w, bias, pooled, codes, Int32Array.of(2, 1, 28, 28, 32, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1));
 */
export const conv2dMaxPool: Kernels["conv2dMaxPool"] = (x, w, bias, pooled, codes, meta) => {
  const args = new Args("conv2dMaxPool");
  const { s, pooledNumel } = readFused(args, x, meta);
  args.sized("weight", w, DTYPE.float32, s.wNumel);
  const b = optionalF32(args, "bias", bias, s.o);
  args.sized("pooled", pooled, DTYPE.float32, pooledNumel);
  if (codes !== null && codes !== undefined) args.sized("codes", codes, DTYPE.int32, pooledNumel);
  // Native compares the convolution's f32 outputs, so the pooling sees them rounded.
  const y = convolve(s, decode(DTYPE.float32, x), decode(DTYPE.float32, w), b).map(Math.fround);
  poolWindows(s, y, (i, code, value) => {
    pooled[i] = value;
    if (codes) codes[i] = code;
  });
};

/**
 * dw and dbias (overwritten) of conv2dMaxPool from x, the pooled output's gradient and the
 * forward's codes; a code outside 0..3 drops its window's gradient, as native's does.
 *
 * @example
 * conv2dMaxPoolBackwardWeights(x, dpooled, codes, dw, dbias, meta);
 */
export const conv2dMaxPoolBackwardWeights: Kernels["conv2dMaxPoolBackwardWeights"] = (x, dpooled, codes, dw, dbias, meta) => {
  const args = new Args("conv2dMaxPoolBackwardWeights");
  const { s, pooledNumel } = readFused(args, x, meta);
  args.sized("dpooled", dpooled, DTYPE.float32, pooledNumel);
  args.sized("codes", codes, DTYPE.int32, pooledNumel);
  args.sized("dw", dw, DTYPE.float32, s.wNumel);
  const db = optionalF32(args, "dbias", dbias, s.o);
  // The convolution's output gradient: each window's gradient at its maximum's position, 0
  // elsewhere and in the row and column no window covers (odd sizes).
  const dy = new Float64Array(s.yNumel);
  const pw = Math.floor(s.ow / 2),
    ph = Math.floor(s.oh / 2);
  for (let i = 0; i < pooledNumel; i++) {
    const code = codes[i]!;
    if (code < 0 || code > 3) continue;
    const o = i % s.o,
      px = Math.floor(i / s.o) % pw,
      py = Math.floor(i / (s.o * pw)) % ph,
      n = Math.floor(i / (s.o * pw * ph));
    dy[((n * s.oh + 2 * py + (code >> 1)) * s.ow + 2 * px + (code & 1)) * s.o + o] = dpooled[i]!;
  }
  const grads = convWeightGradients(s, decode(DTYPE.float32, x), dy);
  dw.set(grads.dw);
  if (db) db.set(grads.dbias);
};
