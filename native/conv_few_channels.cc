#include "conv_few_channels.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "conv_direct.h"
#include "parallel.h"

namespace turbine {

using namespace conv_direct;

namespace {

// Rows (of output pixels) per thread below which one thread is faster.
int64_t row_grain(const ConvGeometry& g) {
  return std::max<int64_t>(1, (int64_t{1} << 17) / std::max<int64_t>(1, g.ow * g.o * g.c * g.kh * g.kw));
}

// The weight and bias gradients from output rows 0 ≤ oy < rows of every image, each row's dy
// [OW, O] given by row_grad(n, oy, scratch) (scratch: OW·O floats it may fill). Each thread
// sums its rows into its own [taps, O] and [O], added up after.
template <typename RowGrad>
void weight_gradients(const ConvGeometry& g, int64_t rows, const float* x, RowGrad&& row_grad, float* dweight,
                      float* dbias) {
  const int64_t tap_count = g.kh * g.kw * g.c;
  int64_t group = 1;
  by_width(g.o, [&](auto width) { group = group_size(tap_count, kMaxGroup<decltype(width)::value>); });
  const Taps taps(g, group);
  const int64_t tap_floats = static_cast<int64_t>(taps.offset.size()) * g.o, size = tap_floats + g.o;
  std::vector<float> partial(static_cast<size_t>(omp_get_max_threads() * size), 0.0f);
  parallel_for(g.n * rows, row_grain(g), [&](int64_t begin, int64_t end) {
    float* mine = partial.data() + omp_get_thread_num() * size;
    AlignedFloats scratch(g.ow * g.o);
    by_width(g.o, [&](auto width) {
      constexpr int W = decltype(width)::value;
      by_group<kMaxGroup<W>>(group, [&](auto taps_at_once) {
        for (int64_t r = begin; r < end; r++) {
          const int64_t n = r / rows, oy = r % rows;
          backward_weights_row<W, decltype(taps_at_once)::value>(g, x + n * g.h * g.w * g.c, oy,
                                                                 row_grad(n, oy, scratch.data()), taps, mine,
                                                                 dbias ? mine + tap_floats : nullptr);
        }
      });
    });
  });
  const int64_t threads = static_cast<int64_t>(partial.size()) / size;
  for (int64_t t = 1; t < threads; t++)
    for (int64_t e = 0; e < size; e++) partial[e] += partial[t * size + e];
  for (int64_t o = 0; o < g.o; o++) {
    for (int64_t t = 0; t < tap_count; t++) dweight[(o * g.c + t % g.c) * g.kh * g.kw + t / g.c] = partial[t * g.o + o];
    if (dbias) dbias[o] = partial[tap_floats + o];
  }
}

// Output pixels per block: twice the chains where the registers hold them (AVX-512), so each
// tap's weights load once per 2·kChains pixels; never fewer than the chains.
template <int W>
constexpr int kBlock = std::max(kChains<W>, std::min(2 * kChains<W>, (kVectorRegisters - W - 1) / W));

// Convolution pixels per row of a pooled block, whose two rows are live at once: even; as many
// as the chains where the registers hold them (4 for 32 channels with AVX-512), else 2.
template <int W>
constexpr int kPoolPixels = 2 * std::max(1, std::min((kChains<W> + 1) / 2, (kVectorRegisters - W - 1) / (4 * W)));

// 2×2 max pooling of the four pixel blocks (top row: columns 2p, 2p + 1; bottom row: the same)
// into `out` and the window position of each channel's maximum into `codes` (0 top left, 1 top
// right, 2 bottom left, 3 bottom right), as max_pool2d chooses: the first maximum, or a NaN.
template <int W, int Q>
inline void pool_blocks(const MachineLanes (&top)[Q][W], const MachineLanes (&bottom)[Q][W], int64_t o, float* out,
                        int32_t* codes) {
  using Codes = int32_t __attribute__((vector_size(sizeof(MachineLanes))));
#pragma GCC unroll 16
  for (int p = 0; p < Q / 2; p++) {
#pragma GCC unroll 16
    for (int k = 0; k < W; k++) {
      const MachineLanes window[4] = {top[2 * p][k], top[2 * p + 1][k], bottom[2 * p][k], bottom[2 * p + 1][k]};
      MachineLanes best = window[0];
      Codes code = Codes{};
#pragma GCC unroll 16
      for (int q = 1; q < 4; q++) {
        const auto take = window[q] > best || window[q] != window[q];
        best = take ? window[q] : best;
        code = take ? Codes{} + q : code;
      }
      store_machine(out + p * o + k * kMachineFloats, best);
      if (codes) std::memcpy(codes + p * o + k * kMachineFloats, &code, sizeof code);
    }
  }
}

}  // namespace

bool few_channels_fits(const ConvGeometry& g) {
  return g.c <= kFewChannels && g.o % kTileLanes == 0 && g.o <= 4 * kTileLanes;
}

void few_channels_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias, float* y) {
  const Taps taps(g, 1);
  const AlignedFloats packed = taps_major(g, taps, weight);
  parallel_for(g.n * g.oh, row_grain(g), [&](int64_t begin, int64_t end) {
    by_width(g.o, [&](auto width) {
      constexpr int W = decltype(width)::value, P = kBlock<W>;
      for (int64_t r = begin; r < end; r++) {
        const float* image = x + (r / g.oh) * g.h * g.w * g.c;
        float* out = y + r * g.ow * g.o;
        int64_t ox = 0;
        for (; ox + P <= g.ow; ox += P) {
          MachineLanes acc[P][W];
          start_at_bias(bias, acc);
          conv_pixels(g, image, r % g.oh, ox, taps, packed.data(), acc);
#pragma GCC unroll 16
          for (int p = 0; p < P; p++)
#pragma GCC unroll 16
            for (int k = 0; k < W; k++) store_machine(out + (ox + p) * g.o + k * kMachineFloats, acc[p][k]);
        }
        for (; ox < g.ow; ox++) {
          MachineLanes acc[1][W];
          start_at_bias(bias, acc);
          conv_pixels(g, image, r % g.oh, ox, taps, packed.data(), acc);
#pragma GCC unroll 16
          for (int k = 0; k < W; k++) store_machine(out + ox * g.o + k * kMachineFloats, acc[0][k]);
        }
      }
    });
  });
}

void few_channels_backward_weights(const ConvGeometry& g, const float* x, const float* dy, float* dweight,
                                   float* dbias) {
  weight_gradients(
      g, g.oh, x, [&](int64_t n, int64_t oy, float*) { return dy + (n * g.oh + oy) * g.ow * g.o; }, dweight, dbias);
}

void few_channels_forward_max_pool(const ConvGeometry& g, const float* x, const float* weight, const float* bias,
                                   float* pooled, int32_t* codes) {
  const Taps taps(g, 1);
  const AlignedFloats packed = taps_major(g, taps, weight);
  const int64_t ph = g.oh / 2, pw = g.ow / 2;
  parallel_for(g.n * ph, row_grain(g) / 2 + 1, [&](int64_t begin, int64_t end) {
    by_width(g.o, [&](auto width) {
      constexpr int W = decltype(width)::value, Q = kPoolPixels<W>;
      for (int64_t r = begin; r < end; r++) {
        const float* image = x + (r / ph) * g.h * g.w * g.c;
        const int64_t oy = 2 * (r % ph);
        float* out = pooled + r * pw * g.o;
        int32_t* at = codes ? codes + r * pw * g.o : nullptr;
        int64_t px = 0;
        for (; 2 * px + Q <= 2 * pw; px += Q / 2) {
          MachineLanes top[Q][W], bottom[Q][W];
          start_at_bias(bias, top);
          start_at_bias(bias, bottom);
          conv_pixels(g, image, oy, 2 * px, taps, packed.data(), top);
          conv_pixels(g, image, oy + 1, 2 * px, taps, packed.data(), bottom);
          pool_blocks(top, bottom, g.o, out + px * g.o, at ? at + px * g.o : nullptr);
        }
        for (; px < pw; px++) {
          MachineLanes top[2][W], bottom[2][W];
          start_at_bias(bias, top);
          start_at_bias(bias, bottom);
          conv_pixels(g, image, oy, 2 * px, taps, packed.data(), top);
          conv_pixels(g, image, oy + 1, 2 * px, taps, packed.data(), bottom);
          pool_blocks(top, bottom, g.o, out + px * g.o, at ? at + px * g.o : nullptr);
        }
      }
    });
  });
}

void few_channels_backward_weights_max_pool(const ConvGeometry& g, const float* x, const float* dpooled,
                                            const int32_t* codes, float* dweight, float* dbias) {
  // A convolution row's dy, made in L1 from the pooled gradient: each window's gradient goes to
  // the position of its maximum, channel by channel; the column no window covers gets 0.
  const int64_t ph = g.oh / 2, pw = g.ow / 2;
  auto row_grad = [&](int64_t n, int64_t oy, float* row) {
    const int64_t pooled_row = (n * ph + oy / 2) * pw * g.o;
    const int32_t half = static_cast<int32_t>(2 * (oy % 2));
    for (int64_t ox = 0; ox < g.ow; ox++) {
      float* __restrict out = row + ox * g.o;
      if (ox >= 2 * pw) {
        std::fill(out, out + g.o, 0.0f);
        continue;
      }
      const float* __restrict window_grad = dpooled + pooled_row + (ox / 2) * g.o;
      const int32_t* __restrict window_code = codes + pooled_row + (ox / 2) * g.o;
      const int32_t code = half + static_cast<int32_t>(ox % 2);
#pragma omp simd
      for (int64_t c = 0; c < g.o; c++) out[c] = window_code[c] == code ? window_grad[c] : 0.0f;
    }
    return static_cast<const float*>(row);
  };
  weight_gradients(g, 2 * ph, x, row_grad, dweight, dbias);
}

}  // namespace turbine
