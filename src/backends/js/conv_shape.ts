/**
 * The meta array of a 2-D convolution (conv2d, its gradients and the conv2dMaxPool family),
 * read and checked with the native addon's rules and messages (native/conv_shape.h), and the
 * walk over every multiply-add of the convolution that the js kernels are built on.
 */
import type { ConvMetaField } from "../meta.js";
import type { Args } from "./args.js";
import { readMeta } from "./kernel_args.js";

/**
 * Field indices of a convolution meta: [N, C, H, W, O, kh, kw, strideH, strideW, padH, padW,
 * dilationH, dilationW, groups, layout], layout 0 for NCHW activations and 1 for NHWC
 * (the addon's: native/meta_fields.h, as test/backends/js/meta_fields.test.ts checks).
 *
 * @example
 * meta[CONV_META.groups]; // the group count
 */
export const CONV_META = {
  n: 0,
  c: 1,
  h: 2,
  w: 3,
  o: 4,
  kh: 5,
  kw: 6,
  sh: 7,
  sw: 8,
  ph: 9,
  pw: 10,
  dh: 11,
  dw: 12,
  groups: 13,
  layout: 14,
} as const satisfies Record<ConvMetaField, number>;

/**
 * A checked convolution: the meta's fields, the output extent and the operands' element counts.
 *
 * @example
 * const { oh, ow, yNumel } = readConvShape(args, meta);
 */
export interface ConvShape {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  groups: number;
  /** Activations are NHWC (channels last); weights are [O, C/groups, kh, kw] either way. */
  channelsLast: boolean;
  oh: number;
  ow: number;
  xNumel: number;
  wNumel: number;
  yNumel: number;
}

/**
 * "input [N, C, H, W], weight [O, C/groups, kh, kw], groups g", as native's messages name a convolution.
 *
 * @example
 * convText({ n: 2, c: 4, h: 5, w: 5, o: 3, kh: 3, kw: 3, groups: 2 }); // "input [2, 4, 5, 5], weight [3, C/groups, 3, 3], groups 2"
 */
export function convText(s: Pick<ConvShape, "n" | "c" | "h" | "w" | "o" | "kh" | "kw" | "groups">): string {
  return `input [${s.n}, ${s.c}, ${s.h}, ${s.w}], weight [${s.o}, C/groups, ${s.kh}, ${s.kw}], groups ${s.groups}`;
}

// One spatial axis: out = floor((in + 2p − d(k−1) − 1)/s) + 1, which must be at least 1.
function outputExtent(args: Args, axis: string, input: number, k: number, s: number, p: number, d: number, shapes: string): number {
  const span = d * (k - 1) + 1;
  args.require(
    input + 2 * p >= span,
    () => `kernel ${axis} extent ${span} (dilation ${d}) exceeds the padded input ${axis} ${input + 2 * p} (padding ${p}); ${shapes}`,
  );
  return Math.floor((input + 2 * p - span) / s) + 1;
}

function checkedNumel(args: Args, what: string, extents: number[]): number {
  const n = extents.reduce((a, b) => a * b, 1);
  args.require(Number.isSafeInteger(n), () => `the element count of ${what} overflows`);
  return n;
}

/**
 * Reads and checks a convolution meta, throwing `kernel: …` errors as native does.
 *
 * @example
 * const s = readConvShape(new Args("conv2d"), Int32Array.of(1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0));
 * s.oh; // 8
 */
export function readConvShape(args: Args, meta: unknown): ConvShape {
  const { layout, ...base } = readMeta(args, meta, CONV_META);
  const { n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups } = base;
  const shapes = convText(base);
  args.require(n >= 0 && c >= 1 && h >= 1 && w >= 1 && o >= 1 && kh >= 1 && kw >= 1, () => `sizes must be positive (N may be 0): ${shapes}`);
  args.require(layout === 0 || layout === 1, () => `layout code must be 0 (NCHW) or 1 (NHWC), got ${layout}`);
  args.require(groups >= 1 && c % groups === 0 && o % groups === 0, () => `groups must divide the input channels and the output channels: ${shapes}`);
  args.require(
    sh >= 1 && sw >= 1 && dh >= 1 && dw >= 1 && ph >= 0 && pw >= 0,
    () => `stride [${sh}, ${sw}] and dilation [${dh}, ${dw}] must be positive, padding [${ph}, ${pw}] non-negative`,
  );
  const oh = outputExtent(args, "H", h, kh, sh, ph, dh, shapes);
  const ow = outputExtent(args, "W", w, kw, sw, pw, dw, shapes);
  return {
    ...base,
    channelsLast: layout === 1,
    oh,
    ow,
    xNumel: checkedNumel(args, "x", [n, c, h, w]),
    wNumel: checkedNumel(args, "weight", [o, c / groups, kh, kw]),
    yNumel: checkedNumel(args, "y", [n, o, oh, ow]),
  };
}

/**
 * The element index of (sample, channel, row, column) in an activation of the layout.
 *
 * @example
 * activationIndex(true, 3, 4, 4)(0, 2, 1, 1); // 17: NHWC, pixel (1, 1) holds channels 15..17
 */
export function activationIndex(channelsLast: boolean, channels: number, height: number, width: number) {
  return channelsLast
    ? (n: number, ch: number, y: number, x: number): number => ((n * height + y) * width + x) * channels + ch
    : (n: number, ch: number, y: number, x: number): number => ((n * channels + ch) * height + y) * width + x;
}

/**
 * Calls `tap(xIndex, wIndex, yIndex)` for every multiply-add y[yIndex] += x[xIndex]·w[wIndex] of
 * the convolution (taps in the padding are skipped): forward, backward-data and
 * backward-weights are each this walk with a different accumulation.
 *
 * @example
 * forEachTap(s, (xi, wi, yi) => { acc[yi]! += x[xi]! * w[wi]!; });
 */
export function forEachTap(s: ConvShape, tap: (xIndex: number, wIndex: number, yIndex: number) => void): void {
  const xAt = activationIndex(s.channelsLast, s.c, s.h, s.w);
  const yAt = activationIndex(s.channelsLast, s.o, s.oh, s.ow);
  const perGroupIn = s.c / s.groups,
    perGroupOut = s.o / s.groups;
  for (let n = 0; n < s.n; n++) {
    for (let o = 0; o < s.o; o++) {
      const firstChannel = Math.floor(o / perGroupOut) * perGroupIn;
      for (let oy = 0; oy < s.oh; oy++) {
        for (let ox = 0; ox < s.ow; ox++) {
          const yi = yAt(n, o, oy, ox);
          for (let ci = 0; ci < perGroupIn; ci++) {
            for (let ky = 0; ky < s.kh; ky++) {
              const iy = oy * s.sh - s.ph + ky * s.dh;
              if (iy < 0 || iy >= s.h) continue;
              for (let kx = 0; kx < s.kw; kx++) {
                const ix = ox * s.sw - s.pw + kx * s.dw;
                if (ix < 0 || ix >= s.w) continue;
                tap(xAt(n, firstChannel + ci, iy, ix), ((o * perGroupIn + ci) * s.kh + ky) * s.kw + kx, yi);
              }
            }
          }
        }
      }
    }
  }
}
