// 2-D pooling over NHWC (channels-last) tensors: each pixel's channels are contiguous, so every
// inner loop runs over the channels and vectorises. Forward work is split over rows of output
// pixels; backward over samples, since windows overlap only within a sample. The choices match
// the NCHW kernels': the first maximum wins ties and a NaN wins; the same divisors.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

#include "parallel.h"
#include "pool_shape.h"

namespace turbine {

template <typename T, bool kIndices>
void max_pool_nhwc_impl(const PoolShape& s, const T* x, T* y, int32_t* argmax) {
  const int64_t channels = s.c;
  parallel_for(s.n * s.oh, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, s.ow * channels * s.kh * s.kw)),
               [&](int64_t b, int64_t e) {
                 std::vector<float> best(static_cast<size_t>(channels));
                 for (int64_t row = b; row < e; row++) {
                   const int64_t n = row / s.oh, oh = row % s.oh;
                   const Taps th = taps(oh * s.sh - s.ph, s.kh, s.dh, s.h);
                   for (int64_t ow = 0; ow < s.ow; ow++) {
                     const Taps tw = taps(ow * s.sw - s.pw, s.kw, s.dw, s.w);
                     const int64_t o = (row * s.ow + ow) * channels;
                     int32_t* __restrict at = kIndices ? argmax + o : nullptr;
                     float* __restrict m = best.data();
                     bool first = true;
                     for (int64_t ih = th.begin; ih < th.end; ih += s.dh) {
                       for (int64_t iw = tw.begin; iw < tw.end; iw += s.dw) {
                         const T* __restrict in = x + ((n * s.h + ih) * s.w + iw) * channels;
                         const int32_t tap = static_cast<int32_t>(ih * s.w + iw);
                         if (first) {
#pragma omp simd
                           for (int64_t c = 0; c < channels; c++) {
                             m[c] = to_float(in[c]);
                             if constexpr (kIndices) at[c] = tap;
                           }
                           first = false;
                           continue;
                         }
#pragma omp simd
                         for (int64_t c = 0; c < channels; c++) {
                           const float v = to_float(in[c]);
                           const bool take = v > m[c] || v != v;
                           m[c] = take ? v : m[c];
                           if constexpr (kIndices) at[c] = take ? tap : at[c];
                         }
                       }
                     }
#pragma omp simd
                     for (int64_t c = 0; c < channels; c++) y[o + c] = from_float<T>(m[c]);
                   }
                 }
               });
}

inline bool is_2x2_stride_2(const PoolShape& s) {
  return s.kh == 2 && s.kw == 2 && s.sh == 2 && s.sw == 2 && s.ph == 0 && s.pw == 0 && s.dh == 1 && s.dw == 1;
}

// The common 2×2, stride-2, unpadded window: four contiguous runs of C channels per output
// pixel, reduced branch-free.
template <typename T, bool kIndices>
void max_pool_nhwc_2x2(const PoolShape& s, const T* x, T* y, int32_t* argmax) {
  const int64_t channels = s.c, row_stride = s.w * channels;
  parallel_for(
      s.n * s.oh, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, 4 * s.ow * channels)),
      [&](int64_t b, int64_t e) {
        for (int64_t row = b; row < e; row++) {
          const int64_t n = row / s.oh, oh = row % s.oh;
          for (int64_t ow = 0; ow < s.ow; ow++) {
            const T* __restrict p0 = x + ((n * s.h + 2 * oh) * s.w + 2 * ow) * channels;
            const T* __restrict p1 = p0 + channels;
            const T* __restrict p2 = p0 + row_stride;
            const T* __restrict p3 = p2 + channels;
            const int64_t o = (row * s.ow + ow) * channels;
            T* __restrict out = y + o;
            int32_t* __restrict at = kIndices ? argmax + o : nullptr;
            const int32_t t0 = static_cast<int32_t>(2 * oh * s.w + 2 * ow), t2 = t0 + static_cast<int32_t>(s.w);
#pragma omp simd
            for (int64_t c = 0; c < channels; c++) {
              const float v0 = to_float(p0[c]), v1 = to_float(p1[c]), v2 = to_float(p2[c]), v3 = to_float(p3[c]);
              float best = v0;
              int32_t tap = t0;
              const bool k1 = v1 > best || v1 != v1;
              best = k1 ? v1 : best;
              tap = k1 ? t0 + 1 : tap;
              const bool k2 = v2 > best || v2 != v2;
              best = k2 ? v2 : best;
              tap = k2 ? t2 : tap;
              const bool k3 = v3 > best || v3 != v3;
              best = k3 ? v3 : best;
              tap = k3 ? t2 + 1 : tap;
              out[c] = from_float<T>(best);
              if constexpr (kIndices) at[c] = tap;
            }
          }
        }
      });
}

template <typename T>
void max_pool_nhwc(const PoolShape& s, const T* x, T* y, int32_t* argmax) {
  if (is_2x2_stride_2(s)) {
    if (argmax)
      max_pool_nhwc_2x2<T, true>(s, x, y, argmax);
    else
      max_pool_nhwc_2x2<T, false>(s, x, y, nullptr);
  } else if (argmax) {
    max_pool_nhwc_impl<T, true>(s, x, y, argmax);
  } else {
    max_pool_nhwc_impl<T, false>(s, x, y, nullptr);
  }
}

// The 2×2, stride-2 backward: windows do not overlap, so each of a window's four taps gets the
// window's gradient in the channels where it was the maximum and 0 in the others, written as
// four contiguous runs; the row and column no window covers (odd sizes) get 0.
template <typename T>
void max_pool_backward_nhwc_2x2(const PoolShape& s, const T* dy, const int32_t* argmax, T* dx) {
  const int64_t channels = s.c, row_stride = s.w * channels;
  const T zero = from_float<T>(0.0f);
  parallel_for(s.n * s.oh, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, 4 * s.ow * channels)),
               [&](int64_t b, int64_t e) {
                 for (int64_t row = b; row < e; row++) {
                   const int64_t n = row / s.oh, oh = row % s.oh;
                   T* top = dx + ((n * s.h + 2 * oh) * s.w) * channels;
                   for (int64_t ow = 0; ow < s.ow; ow++) {
                     T* __restrict q0 = top + 2 * ow * channels;
                     T* __restrict q1 = q0 + channels;
                     T* __restrict q2 = q0 + row_stride;
                     T* __restrict q3 = q2 + channels;
                     const int64_t o = (row * s.ow + ow) * channels;
                     const T* __restrict g = dy + o;
                     const int32_t* __restrict at = argmax + o;
                     const int32_t t0 = static_cast<int32_t>(2 * oh * s.w + 2 * ow),
                                   t2 = t0 + static_cast<int32_t>(s.w);
#pragma omp simd
                     for (int64_t c = 0; c < channels; c++) {
                       // Selecting values (not elements) keeps the loop vectorisable.
                       const float v = to_float(g[c]);
                       const int32_t a = at[c];
                       q0[c] = from_float<T>(a == t0 ? v : 0.0f);
                       q1[c] = from_float<T>(a == t0 + 1 ? v : 0.0f);
                       q2[c] = from_float<T>(a == t2 ? v : 0.0f);
                       q3[c] = from_float<T>(a == t2 + 1 ? v : 0.0f);
                     }
                   }
                   if (s.w % 2) {  // the column past the last window, in both rows
                     std::fill(top + (s.w - 1) * channels, top + s.w * channels, zero);
                     std::fill(top + row_stride + (s.w - 1) * channels, top + row_stride + s.w * channels, zero);
                   }
                 }
               });
  if (s.h % 2) {  // the row past the last window
    for (int64_t n = 0; n < s.n; n++) {
      T* last = dx + ((n * s.h + s.h - 1) * s.w) * channels;
      std::fill(last, last + row_stride, zero);
    }
  }
}

template <typename T>
void max_pool_backward_nhwc(const PoolShape& s, const T* dy, const int32_t* argmax, T* dx) {
  if (is_2x2_stride_2(s)) {
    max_pool_backward_nhwc_2x2(s, dy, argmax, dx);
    return;
  }
  const int64_t channels = s.c, image = s.h * s.w * channels, out_image = s.oh * s.ow * channels;
  parallel_for(s.n, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; n++) {
      float* __restrict acc = plane_accumulator(dx + n * image, image);
      const T* g = dy + n * out_image;
      const int32_t* idx = argmax + n * out_image;
      for (int64_t o = 0; o < out_image; o += channels) {
        // Each channel's target differs from the others' (same pixel offset, its own channel).
#pragma omp simd
        for (int64_t c = 0; c < channels; c++) acc[idx[o + c] * channels + c] += to_float(g[o + c]);
      }
      store_plane(acc, dx + n * image, image);
    }
  });
}

template <typename T>
void avg_pool_nhwc(const PoolShape& s, const T* x, T* y, bool count_include_pad) {
  const int64_t channels = s.c;
  parallel_for(s.n * s.oh, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, s.ow * channels * s.kh * s.kw)),
               [&](int64_t b, int64_t e) {
                 std::vector<float> sum(static_cast<size_t>(channels));
                 for (int64_t row = b; row < e; row++) {
                   const int64_t n = row / s.oh, oh = row % s.oh;
                   const int64_t h0 = oh * s.sh - s.ph, hb = std::max<int64_t>(h0, 0), he = std::min(h0 + s.kh, s.h);
                   for (int64_t ow = 0; ow < s.ow; ow++) {
                     const int64_t w0 = ow * s.sw - s.pw, wb = std::max<int64_t>(w0, 0), we = std::min(w0 + s.kw, s.w);
                     float* __restrict acc = sum.data();
                     std::fill(acc, acc + channels, 0.0f);
                     for (int64_t ih = hb; ih < he; ih++) {
                       for (int64_t iw = wb; iw < we; iw++) {
                         const T* __restrict in = x + ((n * s.h + ih) * s.w + iw) * channels;
#pragma omp simd
                         for (int64_t c = 0; c < channels; c++) acc[c] += to_float(in[c]);
                       }
                     }
                     const float divisor = avg_divisor(s, h0, w0, count_include_pad);
                     T* out = y + (row * s.ow + ow) * channels;
#pragma omp simd
                     for (int64_t c = 0; c < channels; c++) out[c] = from_float<T>(acc[c] / divisor);
                   }
                 }
               });
}

template <typename T>
void avg_pool_backward_nhwc(const PoolShape& s, const T* dy, T* dx, bool count_include_pad) {
  const int64_t channels = s.c, image = s.h * s.w * channels, out_image = s.oh * s.ow * channels;
  parallel_for(s.n, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; n++) {
      float* __restrict acc = plane_accumulator(dx + n * image, image);
      for (int64_t oh = 0; oh < s.oh; oh++) {
        const int64_t h0 = oh * s.sh - s.ph, hb = std::max<int64_t>(h0, 0), he = std::min(h0 + s.kh, s.h);
        for (int64_t ow = 0; ow < s.ow; ow++) {
          const int64_t w0 = ow * s.sw - s.pw, wb = std::max<int64_t>(w0, 0), we = std::min(w0 + s.kw, s.w);
          const float divisor = avg_divisor(s, h0, w0, count_include_pad);
          const T* g = dy + n * out_image + (oh * s.ow + ow) * channels;
          for (int64_t ih = hb; ih < he; ih++) {
            for (int64_t iw = wb; iw < we; iw++) {
              float* __restrict target = acc + (ih * s.w + iw) * channels;
#pragma omp simd
              for (int64_t c = 0; c < channels; c++) target[c] += to_float(g[c]) / divisor;
            }
          }
        }
      }
      store_plane(acc, dx + n * image, image);
    }
  });
}

}  // namespace turbine
