// The geometry of a 2-D pooling and the helpers both layouts' kernels share.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "args.h"
#include "meta_fields.h"
#include "numel.h"

namespace turbine {

// A checked pooling meta (its fields are listed in meta_fields.h) and the output extent.
struct PoolShape {
  int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, layout, oh, ow;
  int64_t in_numel, out_numel;
  int64_t planes() const { return n * c; }
  int64_t in_plane() const { return h * w; }
  int64_t out_plane() const { return oh * ow; }
};

inline int64_t output_extent(const Args& args, const char* axis, int64_t in, int64_t k, int64_t s, int64_t p,
                             int64_t d) {
  const int64_t span = d * (k - 1) + 1;
  args.require(in + 2 * p >= span,
               "kernel %s extent %lld (dilation %lld) exceeds the padded input %s %lld (padding %lld)", axis,
               static_cast<long long>(span), static_cast<long long>(d), axis, static_cast<long long>(in + 2 * p),
               static_cast<long long>(p));
  return (in + 2 * p - span) / s + 1;
}

inline PoolShape read_shape(const Args& args, size_t i) {
  using namespace pool_meta;
  const int32_t* m = args.ints(i, "meta", kMeta);
  PoolShape s{m[kN],  m[kC],  m[kH],  m[kW],      m[kKh], m[kKw], m[kSh], m[kSw], m[kPh],
              m[kPw], m[kDh], m[kDw], m[kLayout], 0,      0,      0,      0};
  args.require(s.layout == 0 || s.layout == 1, "layout code must be 0 (NCHW) or 1 (NHWC), got %lld",
               static_cast<long long>(s.layout));
  args.require(s.n >= 0 && s.c >= 0 && s.h >= 1 && s.w >= 1,
               "input [%lld, %lld, %lld, %lld] needs H, W ≥ 1 and N, C ≥ 0", static_cast<long long>(s.n),
               static_cast<long long>(s.c), static_cast<long long>(s.h), static_cast<long long>(s.w));
  args.require(s.kh >= 1 && s.kw >= 1 && s.sh >= 1 && s.sw >= 1 && s.dh >= 1 && s.dw >= 1,
               "kernel [%lld, %lld], stride [%lld, %lld] and dilation [%lld, %lld] must be positive",
               static_cast<long long>(s.kh), static_cast<long long>(s.kw), static_cast<long long>(s.sh),
               static_cast<long long>(s.sw), static_cast<long long>(s.dh), static_cast<long long>(s.dw));
  // PyTorch's rule; it also guarantees every window holds at least one input element.
  args.require(s.ph >= 0 && s.pw >= 0 && 2 * s.ph <= s.kh && 2 * s.pw <= s.kw,
               "padding [%lld, %lld] must be non-negative and at most half the kernel [%lld, %lld]",
               static_cast<long long>(s.ph), static_cast<long long>(s.pw), static_cast<long long>(s.kh),
               static_cast<long long>(s.kw));
  s.oh = output_extent(args, "H", s.h, s.kh, s.sh, s.ph, s.dh);
  s.ow = output_extent(args, "W", s.w, s.kw, s.sw, s.pw, s.dw);
  s.in_numel = checked_numel(args, "x", {s.n, s.c, s.h, s.w});
  s.out_numel = checked_numel(args, "y", {s.n, s.c, s.oh, s.ow});
  return s;
}

// The first tap of a window at or after 0, and the end of its taps, on one axis.
struct Taps {
  int64_t begin, end;
};
inline Taps taps(int64_t start, int64_t k, int64_t d, int64_t in) {
  int64_t begin = start;
  if (begin < 0) begin += ((-begin + d - 1) / d) * d;
  return {begin, std::min(start + d * (k - 1) + 1, in)};
}

// Per-thread f32 accumulator for one plane (NCHW) or one image (NHWC) of gradient; float
// gradients accumulate in place.
template <typename T>
float* plane_accumulator(T* dx_plane, int64_t size) {
  if constexpr (std::is_same_v<T, float>) {
    std::fill(dx_plane, dx_plane + size, 0.0f);
    return dx_plane;
  } else {
    thread_local std::vector<float> buffer;
    buffer.assign(static_cast<size_t>(size), 0.0f);
    return buffer.data();
  }
}

template <typename T>
void store_plane(const float* acc, T* dx_plane, int64_t size) {
  if constexpr (!std::is_same_v<T, float>) {
#pragma omp simd
    for (int64_t i = 0; i < size; i++) dx_plane[i] = from_float<T>(acc[i]);
  }
}

// The divisor of one average window: its full extent clipped to the padded input, or only the
// input elements it covers.
inline float avg_divisor(const PoolShape& s, int64_t h0, int64_t w0, bool count_include_pad) {
  if (count_include_pad) {
    return static_cast<float>((std::min(h0 + s.kh, s.h + s.ph) - h0) * (std::min(w0 + s.kw, s.w + s.pw) - w0));
  }
  return static_cast<float>((std::min(h0 + s.kh, s.h) - std::max<int64_t>(h0, 0)) *
                            (std::min(w0 + s.kw, s.w) - std::max<int64_t>(w0, 0)));
}

}  // namespace turbine
