// The direct few-channel convolution's building blocks (conv_few_channels.cc): the tap table,
// blocks of output pixels accumulated in registers, and one output row's share of the weight
// gradient. Shared by the plain convolution and the one fused with 2×2 max pooling.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "conv_few_channels.h"
#include "tile_matmul.h"

namespace turbine::conv_direct {

// The kernels here count in registers of the machine's vectors (MachineLanes: 16 floats with
// AVX-512, 8 with AVX2): a pixel's O channels are W = O / kMachineFloats of them.
//
// Independent multiply-add chains a loop keeps in flight: a chain waits about four cycles for
// its previous multiply-add, so blocks of P pixels (or G taps) of W registers make P·W ≥ 8.
template <int W>
constexpr int kChains = (8 + W - 1) / W;

// The taps (i, j, c) in [kh, kw, C] order as offsets into the image from a window's corner; for
// each j the output columns whose tap reads inside the image's columns; and where windows lie
// wholly inside: in rows (every i) and in columns [first_column, last_column].
struct Taps {
  std::vector<int64_t> offset, first, last;
  int64_t first_column, last_column, pixel_step;

  // `group`: taps come in groups of this many, the last padded with taps that read the corner
  // and whose sums go unused.
  Taps(const ConvGeometry& g, int64_t group) : first(g.kw), last(g.kw), pixel_step(g.sw * g.c) {
    for (int64_t i = 0; i < g.kh; i++)
      for (int64_t j = 0; j < g.kw; j++)
        for (int64_t c = 0; c < g.c; c++) offset.push_back((i * g.dh * g.w + j * g.dw) * g.c + c);
    while (offset.size() % group) offset.push_back(0);
    for (int64_t j = 0; j < g.kw; j++) {  // ox·sw − pw + j·dw in [0, W)
      const int64_t before = g.pw - j * g.dw, until = g.w - 1 + g.pw - j * g.dw;
      first[j] = before <= 0 ? 0 : (before + g.sw - 1) / g.sw;
      last[j] = until < 0 ? -1 : std::min(g.ow - 1, until / g.sw);
    }
    first_column = first[0];  // tap 0 bounds the inside on the left, the last tap on the right
    last_column = last[g.kw - 1];
  }
  bool row_inside(const ConvGeometry& g, int64_t oy) const {
    const int64_t top = oy * g.sh - g.ph;
    return top >= 0 && top + (g.kh - 1) * g.dh < g.h && first_column <= last_column;
  }
  // The image position of output pixel (oy, 0)'s window corner (possibly in the padding).
  static const float* corner(const ConvGeometry& g, const float* image, int64_t oy) {
    return image + ((oy * g.sh - g.ph) * g.w - g.pw) * g.c;
  }
};

// Accumulates into acc (which holds the bias) Q adjacent output pixels of row oy from column
// ox, W registers of channels each: in one pass over the taps where every window lies inside
// the image, else pixel by pixel, skipping the taps that fall in the padding.
template <int W, int Q>
inline void conv_pixels(const ConvGeometry& g, const float* image, int64_t oy, int64_t ox, const Taps& taps,
                        const float* packed, MachineLanes (&acc)[Q][W]) {
  const int64_t o = g.o;
  if (taps.row_inside(g, oy) && ox >= taps.first_column && ox + Q - 1 <= taps.last_column) {
    const float* corner = Taps::corner(g, image, oy) + ox * taps.pixel_step;
    const int64_t count = static_cast<int64_t>(taps.offset.size());
    for (int64_t t = 0; t < count; t++) {
      MachineLanes wv[W];
#pragma GCC unroll 16
      for (int k = 0; k < W; k++) load_machine_kept(wv[k], packed + t * o + k * kMachineFloats);
      const float* source = corner + taps.offset[t];
#pragma GCC unroll 16
      for (int q = 0; q < Q; q++) {
        const float s = source[q * taps.pixel_step];
#pragma GCC unroll 16
        for (int k = 0; k < W; k++) acc[q][k] += s * wv[k];
      }
    }
    return;
  }
#pragma GCC unroll 16
  for (int q = 0; q < Q; q++) {
    for (int64_t i = 0; i < g.kh; i++) {
      const int64_t iy = oy * g.sh - g.ph + i * g.dh;
      for (int64_t j = 0; j < g.kw; j++) {
        const int64_t ix = (ox + q) * g.sw - g.pw + j * g.dw;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
        for (int64_t c = 0; c < g.c; c++) {
          const float s = image[(iy * g.w + ix) * g.c + c];
          const float* tap = packed + ((i * g.kw + j) * g.c + c) * o;
#pragma GCC unroll 16
          for (int k = 0; k < W; k++) {
            MachineLanes wv;
            load_machine(wv, tap + k * kMachineFloats);
            acc[q][k] += s * wv;
          }
        }
      }
    }
  }
}

// Sets every pixel of acc to the bias (or 0).
template <int W, int Q>
inline void start_at_bias(const float* bias, MachineLanes (&acc)[Q][W]) {
#pragma GCC unroll 16
  for (int q = 0; q < Q; q++) {
#pragma GCC unroll 16
    for (int k = 0; k < W; k++) {
      acc[q][k] = MachineLanes{};
      if (bias) load_machine(acc[q][k], bias + k * kMachineFloats);
    }
  }
}

// The weights as [kh, kw, C, O]: a tap's output channels are contiguous registers.
inline AlignedFloats taps_major(const ConvGeometry& g, const Taps& taps, const float* weight) {
  const int64_t count = static_cast<int64_t>(taps.offset.size());
  AlignedFloats packed(count * g.o);
  for (int64_t o = 0; o < g.o; o++)
    for (int64_t t = 0; t < count; t++)
      packed.data()[t * g.o + o] = weight[(o * g.c + t % g.c) * g.kh * g.kw + t / g.c];
  return packed;
}

// Adds Σ over columns [first, last] of corner[offset[t] + ox·step]·grad[ox] into sums row t, for
// the G taps from `offset` at once: a row of dy loads once per G taps.
template <int W, int G>
inline void tap_sums(const float* corner, const int64_t* offset, int64_t step, const float* grad, int64_t o,
                     int64_t first, int64_t last, float* sums) {
  if (first > last) return;
  const float* source[G];
#pragma GCC unroll 16
  for (int t = 0; t < G; t++) source[t] = corner + offset[t] + first * step;
  const float* d = grad + first * o;
  MachineLanes acc[G][W] = {};
  for (int64_t at = 0, end = (last - first + 1) * step; at < end; at += step, d += o) {
    MachineLanes dv[W];
#pragma GCC unroll 16
    for (int k = 0; k < W; k++) load_machine_kept(dv[k], d + k * kMachineFloats);
#pragma GCC unroll 16
    for (int t = 0; t < G; t++) {
      const float s = source[t][at];
#pragma GCC unroll 16
      for (int k = 0; k < W; k++) acc[t][k] += s * dv[k];
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < G; t++) {
#pragma GCC unroll 16
    for (int k = 0; k < W; k++) {
      MachineLanes total;
      load_machine(total, sums + t * o + k * kMachineFloats);
      store_machine(sums + t * o + k * kMachineFloats, total + acc[t][k]);
    }
  }
}

// Adds Σ over the row's columns of grad[ox] into sums (the bias gradient), P columns at a time.
template <int W>
inline void column_sums(const float* grad, int64_t o, int64_t columns, float* sums) {
  constexpr int P = kChains<W>;
  MachineLanes acc[P][W] = {};
  int64_t ox = 0;
  for (; ox + P <= columns; ox += P) {
#pragma GCC unroll 16
    for (int p = 0; p < P; p++) {
#pragma GCC unroll 16
      for (int k = 0; k < W; k++) {
        MachineLanes d;
        load_machine(d, grad + (ox + p) * o + k * kMachineFloats);
        acc[p][k] += d;
      }
    }
  }
  for (; ox < columns; ox++) {
#pragma GCC unroll 16
    for (int k = 0; k < W; k++) {
      MachineLanes d;
      load_machine(d, grad + ox * o + k * kMachineFloats);
      acc[0][k] += d;
    }
  }
#pragma GCC unroll 16
  for (int k = 0; k < W; k++) {
    MachineLanes total;
    load_machine(total, sums + k * kMachineFloats);
#pragma GCC unroll 16
    for (int p = 0; p < P; p++) total += acc[p][k];
    store_machine(sums + k * kMachineFloats, total);
  }
}

// Adds output row oy's share of the weight gradient into sums [taps (padded), O] and, when
// bias_sums is not null, of the bias gradient into bias_sums [O], from grad, the row's dy
// [OW, O]. The row of dy stays in L1 while every tap passes over it: over the columns whose
// windows lie inside, G taps at a time, then each tap alone over the columns whose windows
// reach into the padding.
template <int W, int G>
void backward_weights_row(const ConvGeometry& g, const float* image, int64_t oy, const float* grad, const Taps& taps,
                          float* sums, float* bias_sums) {
  const int64_t count = static_cast<int64_t>(taps.offset.size()), step = taps.pixel_step;
  const float* corner = Taps::corner(g, image, oy);
  if (bias_sums) column_sums<W>(grad, g.o, g.ow, bias_sums);
  int64_t inside_first = g.ow, inside_last = g.ow - 1;
  if (taps.row_inside(g, oy)) {
    inside_first = taps.first_column;
    inside_last = taps.last_column;
    for (int64_t t = 0; t < count; t += G)
      tap_sums<W, G>(corner, &taps.offset[t], step, grad, g.o, inside_first, inside_last, sums + t * g.o);
  }
  for (int64_t i = 0; i < g.kh; i++) {
    const int64_t iy = oy * g.sh - g.ph + i * g.dh;
    if (iy < 0 || iy >= g.h) continue;
    for (int64_t j = 0; j < g.kw; j++) {
      const int64_t left = std::min(taps.last[j], inside_first - 1), right = std::max(taps.first[j], inside_last + 1);
      if (left < taps.first[j] && right > taps.last[j]) continue;
      for (int64_t t = (i * g.kw + j) * g.c; t < (i * g.kw + j + 1) * g.c; t++) {
        tap_sums<W, 1>(corner, &taps.offset[t], step, grad, g.o, taps.first[j], left, sums + t * g.o);
        tap_sums<W, 1>(corner, &taps.offset[t], step, grad, g.o, right, taps.last[j], sums + t * g.o);
      }
    }
  }
}

// Taps summed at once in backward-weights: G·W accumulators and W registers of dy fit in the
// vector registers (24 / W of AVX-512's 32, 8 / W of AVX2's 16); a tap count is split into
// equal groups of at most that many.
template <int W>
constexpr int kMaxGroup = std::max(1, (kVectorRegisters - 8) / W);

inline int64_t group_size(int64_t taps, int64_t max_group) {
  const int64_t groups = (taps + max_group - 1) / max_group;
  return (taps + groups - 1) / groups;
}

// Calls fn with std::integral_constant<int, G> for G in [1, Max], the one equal to `group`.
template <int Max, typename Fn>
void by_group(int64_t group, Fn&& fn) {
  if constexpr (Max > 1) {
    if (group < Max) return by_group<Max - 1>(group, fn);
  }
  fn(std::integral_constant<int, Max>{});
}

// Calls fn with std::integral_constant<int, O / kMachineFloats>: the registers per pixel as a
// constant, for O = 16, 32, 48 or 64.
template <typename Fn>
void by_width(int64_t o, Fn&& fn) {
  constexpr int per16 = kTileLanes / kMachineFloats;
  switch (o / kTileLanes) {
    case 1:
      fn(std::integral_constant<int, per16>{});
      break;
    case 2:
      fn(std::integral_constant<int, 2 * per16>{});
      break;
    case 3:
      fn(std::integral_constant<int, 3 * per16>{});
      break;
    default:
      fn(std::integral_constant<int, 4 * per16>{});
      break;
  }
}

}  // namespace turbine::conv_direct
