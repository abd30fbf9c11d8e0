// 2-D max and average pooling (PyTorch's semantics, ceil_mode false): the NCHW loops and the
// kernels' entry points, which hand NHWC inputs to pool_nhwc.h. In NCHW every window lies in one
// N×C plane, so the kernels run in parallel over planes and the backward scatters never race.
// Low-precision gradients accumulate in an f32 plane per thread.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "args.h"
#include "numel.h"
#include "parallel.h"
#include "pool_nhwc.h"
#include "pool_shape.h"
#include "registry.h"

namespace turbine {
namespace {

int64_t plane_grain(const PoolShape& s) {
  return std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, s.in_plane()));
}

// The common 2×2, stride-2, unpadded window, over one whole plane at a time: output rows are
// short (13 wide in the cnn), so the loop runs over the plane's outputs through a table of
// their windows' top-left offsets, which the compiler turns into vector gathers. Branch-free,
// with the general loop's choice (first maximum wins ties, a NaN wins).
template <typename T, bool kIndices>
void max_pool_2x2_plane(const T* __restrict in, T* __restrict out, int32_t* __restrict idx,
                        const int32_t* __restrict corner, int64_t count, int32_t w) {
#pragma omp simd
  for (int64_t o = 0; o < count; o++) {
    const int32_t c = corner[o];
    const float v0 = to_float(in[c]), v1 = to_float(in[c + 1]), v2 = to_float(in[c + w]), v3 = to_float(in[c + w + 1]);
    float best = v0;
    int32_t at = 0;
    const bool t1 = v1 > best || v1 != v1;
    best = t1 ? v1 : best;
    at = t1 ? 1 : at;
    const bool t2 = v2 > best || v2 != v2;
    best = t2 ? v2 : best;
    at = t2 ? w : at;
    const bool t3 = v3 > best || v3 != v3;
    best = t3 ? v3 : best;
    at = t3 ? w + 1 : at;
    out[o] = from_float<T>(best);
    if constexpr (kIndices) idx[o] = c + at;
  }
}

template <typename T>
void max_pool_2x2(const PoolShape& s, const T* x, T* y, int32_t* argmax) {
  std::vector<int32_t> corner(static_cast<size_t>(s.out_plane()));
  for (int64_t oh = 0; oh < s.oh; oh++)
    for (int64_t ow = 0; ow < s.ow; ow++) corner[oh * s.ow + ow] = static_cast<int32_t>(2 * oh * s.w + 2 * ow);
  const int32_t w = static_cast<int32_t>(s.w);
  parallel_for(s.planes(), plane_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; plane++) {
      const T* in = x + plane * s.in_plane();
      T* out = y + plane * s.out_plane();
      if (argmax)
        max_pool_2x2_plane<T, true>(in, out, argmax + plane * s.out_plane(), corner.data(), s.out_plane(), w);
      else
        max_pool_2x2_plane<T, false>(in, out, nullptr, corner.data(), s.out_plane(), w);
    }
  });
}

// A max over each window as PyTorch takes it (the first maximum on ties, the last NaN if any);
// `argmax` gets the flat index of the winner within its plane.
template <typename T>
void max_pool(const PoolShape& s, const T* x, T* y, int32_t* argmax) {
  if (s.kh == 2 && s.kw == 2 && s.sh == 2 && s.sw == 2 && s.ph == 0 && s.pw == 0 && s.dh == 1 && s.dw == 1) {
    max_pool_2x2(s, x, y, argmax);
    return;
  }
  parallel_for(s.planes(), plane_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; plane++) {
      const T* in = x + plane * s.in_plane();
      for (int64_t oh = 0; oh < s.oh; oh++) {
        const Taps th = taps(oh * s.sh - s.ph, s.kh, s.dh, s.h);
        for (int64_t ow = 0; ow < s.ow; ow++) {
          const Taps tw = taps(ow * s.sw - s.pw, s.kw, s.dw, s.w);
          float best = -std::numeric_limits<float>::infinity();
          int64_t where = th.begin * s.w + tw.begin;
          for (int64_t ih = th.begin; ih < th.end; ih += s.dh) {
            for (int64_t iw = tw.begin; iw < tw.end; iw += s.dw) {
              const float v = to_float(in[ih * s.w + iw]);
              if (v > best || std::isnan(v)) {
                best = v;
                where = ih * s.w + iw;
              }
            }
          }
          const int64_t o = plane * s.out_plane() + oh * s.ow + ow;
          y[o] = from_float<T>(best);
          if (argmax) argmax[o] = static_cast<int32_t>(where);
        }
      }
    }
  });
}

template <typename T>
void max_pool_backward(const PoolShape& s, const T* dy, const int32_t* argmax, T* dx) {
  parallel_for(s.planes(), plane_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; plane++) {
      float* acc = plane_accumulator(dx + plane * s.in_plane(), s.in_plane());
      const T* g = dy + plane * s.out_plane();
      const int32_t* idx = argmax + plane * s.out_plane();
      for (int64_t o = 0; o < s.out_plane(); o++) acc[idx[o]] += to_float(g[o]);
      store_plane(acc, dx + plane * s.in_plane(), s.in_plane());
    }
  });
}

template <typename T>
void avg_pool(const PoolShape& s, const T* x, T* y, bool count_include_pad) {
  parallel_for(s.planes(), plane_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; plane++) {
      const T* in = x + plane * s.in_plane();
      for (int64_t oh = 0; oh < s.oh; oh++) {
        const int64_t h0 = oh * s.sh - s.ph, hb = std::max<int64_t>(h0, 0), he = std::min(h0 + s.kh, s.h);
        for (int64_t ow = 0; ow < s.ow; ow++) {
          const int64_t w0 = ow * s.sw - s.pw, wb = std::max<int64_t>(w0, 0), we = std::min(w0 + s.kw, s.w);
          float sum = 0;
          for (int64_t ih = hb; ih < he; ih++) {
#pragma omp simd reduction(+ : sum)
            for (int64_t iw = wb; iw < we; iw++) sum += to_float(in[ih * s.w + iw]);
          }
          y[plane * s.out_plane() + oh * s.ow + ow] = from_float<T>(sum / avg_divisor(s, h0, w0, count_include_pad));
        }
      }
    }
  });
}

template <typename T>
void avg_pool_backward(const PoolShape& s, const T* dy, T* dx, bool count_include_pad) {
  parallel_for(s.planes(), plane_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; plane++) {
      float* acc = plane_accumulator(dx + plane * s.in_plane(), s.in_plane());
      const T* g = dy + plane * s.out_plane();
      for (int64_t oh = 0; oh < s.oh; oh++) {
        const int64_t h0 = oh * s.sh - s.ph, hb = std::max<int64_t>(h0, 0), he = std::min(h0 + s.kh, s.h);
        for (int64_t ow = 0; ow < s.ow; ow++) {
          const int64_t w0 = ow * s.sw - s.pw, wb = std::max<int64_t>(w0, 0), we = std::min(w0 + s.kw, s.w);
          const float share = to_float(g[oh * s.ow + ow]) / avg_divisor(s, h0, w0, count_include_pad);
          for (int64_t ih = hb; ih < he; ih++) {
#pragma omp simd
            for (int64_t iw = wb; iw < we; iw++) acc[ih * s.w + iw] += share;
          }
        }
      }
      store_plane(acc, dx + plane * s.in_plane(), s.in_plane());
    }
  });
}

// maxPool2d(dtype, x, y, argmax|null, meta)
Napi::Value MaxPoolKernel(const Napi::CallbackInfo& info) {
  Args args(info, "max_pool2d", 5);
  const DType type = args.float_dtype(0, "dtype");
  const PoolShape s = read_shape(args, 4);
  View x = args.tensor(1, "x", type, s.in_numel);
  View y = args.tensor(2, "y", type, s.out_numel);
  View argmax = args.is_null(3) ? View{} : args.tensor(3, "indices", DType::I32, s.out_numel);
  args.require(s.in_plane() <= INT32_MAX, "an input plane of %lld elements overflows the int32 indices",
               static_cast<long long>(s.in_plane()));
  dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    if (s.layout)
      max_pool_nhwc(s, x.as<T>(), y.as<T>(), argmax.as<int32_t>());
    else
      max_pool(s, x.as<T>(), y.as<T>(), argmax.as<int32_t>());
  });
  return info.Env().Undefined();
}

// maxPool2dBackward(dtype, dy, argmax, dx, meta): dx overwritten
Napi::Value MaxPoolBackwardKernel(const Napi::CallbackInfo& info) {
  Args args(info, "max_pool2d backward", 5);
  const DType type = args.float_dtype(0, "dtype");
  const PoolShape s = read_shape(args, 4);
  View dy = args.tensor(1, "dy", type, s.out_numel);
  View argmax = args.tensor(2, "indices", DType::I32, s.out_numel);
  View dx = args.tensor(3, "dx", type, s.in_numel);
  const int32_t* idx = argmax.as<int32_t>();
  // A vectorised scan first; only a failing one searches for the index to report.
  int64_t outside = 0;
  const int64_t plane = s.in_plane();
#pragma omp simd reduction(+ : outside)
  for (int64_t i = 0; i < s.out_numel; i++) outside += idx[i] < 0 || idx[i] >= plane;
  if (outside > 0) {
    const int64_t i = std::find_if(idx, idx + s.out_numel, [&](int32_t v) { return v < 0 || v >= plane; }) - idx;
    args.fail("index " + std::to_string(idx[i]) + " at position " + std::to_string(i) +
              " is outside the input plane [0, " + std::to_string(plane) + ")");
  }
  dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    if (s.layout)
      max_pool_backward_nhwc(s, dy.as<T>(), idx, dx.as<T>());
    else
      max_pool_backward(s, dy.as<T>(), idx, dx.as<T>());
  });
  return info.Env().Undefined();
}

PoolShape read_avg_shape(const Args& args, size_t i) {
  const PoolShape s = read_shape(args, i);
  args.require(s.dh == 1 && s.dw == 1, "average pooling has no dilation, got [%lld, %lld]",
               static_cast<long long>(s.dh), static_cast<long long>(s.dw));
  return s;
}

// avgPool2d(dtype, x, y, meta, countIncludePad)
Napi::Value AvgPoolKernel(const Napi::CallbackInfo& info) {
  Args args(info, "avg_pool2d", 5);
  const DType type = args.float_dtype(0, "dtype");
  const PoolShape s = read_avg_shape(args, 3);
  const bool include_pad = args.boolean(4, "countIncludePad");
  View x = args.tensor(1, "x", type, s.in_numel);
  View y = args.tensor(2, "y", type, s.out_numel);
  dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    if (s.layout)
      avg_pool_nhwc(s, x.as<T>(), y.as<T>(), include_pad);
    else
      avg_pool(s, x.as<T>(), y.as<T>(), include_pad);
  });
  return info.Env().Undefined();
}

// avgPool2dBackward(dtype, dy, dx, meta, countIncludePad): dx overwritten
Napi::Value AvgPoolBackwardKernel(const Napi::CallbackInfo& info) {
  Args args(info, "avg_pool2d backward", 5);
  const DType type = args.float_dtype(0, "dtype");
  const PoolShape s = read_avg_shape(args, 3);
  const bool include_pad = args.boolean(4, "countIncludePad");
  View dy = args.tensor(1, "dy", type, s.out_numel);
  View dx = args.tensor(2, "dx", type, s.in_numel);
  dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    if (s.layout)
      avg_pool_backward_nhwc(s, dy.as<T>(), dx.as<T>(), include_pad);
    else
      avg_pool_backward(s, dy.as<T>(), dx.as<T>(), include_pad);
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(maxPool2d, MaxPoolKernel);
TURBINE_KERNEL(maxPool2dBackward, MaxPoolBackwardKernel);
TURBINE_KERNEL(avgPool2d, AvgPoolKernel);
TURBINE_KERNEL(avgPool2dBackward, AvgPoolBackwardKernel);

}  // namespace turbine
