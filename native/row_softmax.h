// The pieces of a max-subtracted softmax over one contiguous row, shared by softmax and the
// fused cross-entropy: the row's maximum, and Σ e^(x − max) accumulated in double.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "dtype.h"
#include "exp_simd.h"
#include "parallel.h"

namespace turbine {

// Softmax-like rows cost about four element-wise ops per element (a max pass, an exp pass and
// a scaling pass), so a thread team pays for itself at a quarter of kElementGrain elements.
constexpr int64_t kSoftmaxGrain = kElementGrain / 4;

// Grain, in units of `work` elements each (a row, or a block of lanes), for parallel_for.
inline int64_t softmax_grain(int64_t work) { return std::max<int64_t>(1, kSoftmaxGrain / std::max<int64_t>(work, 1)); }

template <typename T>
inline float row_max(const T* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; i++) m = std::max(m, to_float(x[i]));
  return m;
}

// Exponentials are written in blocks of f32 and summed in double by a second loop: GCC 12 does
// not vectorise exp_simd's clamps in a loop that also accumulates in double, and the sum must be
// double, or a confident row's 1 + tiny loses the tiny that its log-sum-exp is made of.
constexpr int64_t kSumBlock = 256;

// Σ e^(x_i − m); when `terms` is not null each e^(x_i − m) is stored there too, so a caller that
// scales them afterwards computes each exponential once.
template <typename T>
inline double row_exp_sum(const T* x, int64_t n, float m, float* terms) {
  float block[kSumBlock];
  double s = 0;
  for (int64_t b = 0; b < n; b += kSumBlock) {
    const int64_t len = std::min(kSumBlock, n - b);
    float* e = terms ? terms + b : block;
#pragma omp simd
    for (int64_t i = 0; i < len; i++) e[i] = exp_simd(to_float(x[b + i]) - m);
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < len; i++) s += e[i];
  }
  return s;
}

// Where a row's f32 intermediate values can wait: in the output row itself when the output is
// f32, else in `buffer` (one row long), so 16-bit outputs are rounded only once.
template <typename T>
inline float* f32_row(T* out, std::vector<float>& buffer) {
  if constexpr (std::is_same_v<T, float>) {
    return out;
  } else {
    return buffer.data();
  }
}

// A buffer for f32_row: empty when the output is f32 and needs none.
template <typename T>
inline std::vector<float> f32_row_buffer(int64_t n) {
  return std::vector<float>(std::is_same_v<T, float> ? 0 : static_cast<size_t>(n));
}

}  // namespace turbine
