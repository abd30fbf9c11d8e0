// Softmax and log-softmax over the middle axis of a tensor viewed as [outer, r, inner]
// (TypeScript views any axis that way), forward and backward, for f32, bf16 and f16 computed
// in f32. Rows are max-subtracted so exp never overflows; sums accumulate in double. The last
// axis (inner == 1) walks contiguous rows; other axes walk blocks of up to kLanes adjacent
// positions of `inner` at once, so the vectorised loops still run over contiguous memory.
#include <cmath>
#include <limits>
#include <vector>

#include "args.h"
#include "exp_simd.h"
#include "extents.h"
#include "f32_pair.h"
#include "parallel.h"
#include "registry.h"
#include "row_softmax.h"

namespace turbine {
namespace {

constexpr int64_t kLanes = 256;  // lanes of the strided path's blocks: accumulators stay in L1

template <typename T>
void forward_last(const T* x, T* y, int64_t outer, int64_t r, bool log) {
  parallel_for(outer, softmax_grain(r), [&](int64_t begin, int64_t end) {
    std::vector<float> buffer = f32_row_buffer<T>(r);
    for (int64_t o = begin; o < end; o++) {
      const T* xr = x + o * r;
      T* yr = y + o * r;
      const float m = row_max(xr, r);
      if (log) {
        const float shift = static_cast<float>(std::log(row_exp_sum(xr, r, m, nullptr)));
#pragma omp simd
        for (int64_t i = 0; i < r; i++) yr[i] = from_float<T>((to_float(xr[i]) - m) - shift);
      } else {
        float* e = f32_row(yr, buffer);
        const float inv = static_cast<float>(1.0 / row_exp_sum(xr, r, m, e));
#pragma omp simd
        for (int64_t i = 0; i < r; i++) yr[i] = from_float<T>(e[i] * inv);
      }
    }
  });
}

// Softmax over a non-last axis recomputes exp in its last pass rather than keeping r × kLanes
// exponentials, which for a long axis would not fit in cache.
template <typename T>
void forward_strided(const T* x, T* y, int64_t outer, int64_t r, int64_t inner, bool log) {
  const int64_t blocks = (inner + kLanes - 1) / kLanes;
  parallel_for(outer * blocks, softmax_grain(r * std::min(inner, kLanes)), [&](int64_t begin, int64_t end) {
    float m[kLanes], shift[kLanes], e[kLanes];
    double s[kLanes];
    for (int64_t task = begin; task < end; task++) {
      const int64_t o = task / blocks, j0 = (task % blocks) * kLanes, width = std::min(kLanes, inner - j0);
      const T* base = x + o * r * inner + j0;
      T* out = y + o * r * inner + j0;
      for (int64_t j = 0; j < width; j++) {
        m[j] = -std::numeric_limits<float>::infinity();
        s[j] = 0;
      }
      for (int64_t i = 0; i < r; i++) {
#pragma omp simd
        for (int64_t j = 0; j < width; j++) m[j] = std::max(m[j], to_float(base[i * inner + j]));
      }
      for (int64_t i = 0; i < r; i++) {  // two loops, as in row_exp_sum
#pragma omp simd
        for (int64_t j = 0; j < width; j++) e[j] = exp_simd(to_float(base[i * inner + j]) - m[j]);
#pragma omp simd
        for (int64_t j = 0; j < width; j++) s[j] += e[j];
      }
      for (int64_t j = 0; j < width; j++) shift[j] = static_cast<float>(log ? std::log(s[j]) : 1.0 / s[j]);
      for (int64_t i = 0; i < r; i++) {
        const T* xr = base + i * inner;
        T* yr = out + i * inner;
        if (log) {
#pragma omp simd
          for (int64_t j = 0; j < width; j++) yr[j] = from_float<T>((to_float(xr[j]) - m[j]) - shift[j]);
        } else {
#pragma omp simd
          for (int64_t j = 0; j < width; j++) yr[j] = from_float<T>(exp_simd(to_float(xr[j]) - m[j]) * shift[j]);
        }
      }
    }
  });
}

// softmax: dx = y·(g − Σ g·y / Σ y); log-softmax: dx = g − e^y·Σ g. Σ y is 1 for the exact
// output, but near a one-hot output g − Σ g·y cancels down to the f32 rounding of the largest y;
// dividing by the saved output's own Σ y makes the difference Σ_j y_j·(g − g_j) / Σ y, which
// depends only on the small y_j, known to full relative precision. The quotient is subtracted
// as an f32 pair for the same reason.
template <typename T>
void backward_last(const T* g, const T* y, T* dx, int64_t outer, int64_t r, bool log) {
  parallel_for(outer, softmax_grain(r), [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; o++) {
      const T* gr = g + o * r;
      const T* yr = y + o * r;
      T* dr = dx + o * r;
      double s = 0;
      if (log) {
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < r; i++) s += to_float(gr[i]);
        const float total = static_cast<float>(s);
#pragma omp simd
        for (int64_t i = 0; i < r; i++) dr[i] = from_float<T>(to_float(gr[i]) - exp_simd(to_float(yr[i])) * total);
      } else {
        double total = 0;
#pragma omp simd reduction(+ : s, total)
        for (int64_t i = 0; i < r; i++) {
          s += static_cast<double>(to_float(gr[i])) * to_float(yr[i]);
          total += to_float(yr[i]);
        }
        const F32Pair dot = split_double(s / total);
#pragma omp simd
        for (int64_t i = 0; i < r; i++) dr[i] = from_float<T>(to_float(yr[i]) * ((to_float(gr[i]) - dot.hi) - dot.lo));
      }
    }
  });
}

template <typename T>
void backward_strided(const T* g, const T* y, T* dx, int64_t outer, int64_t r, int64_t inner, bool log) {
  const int64_t blocks = (inner + kLanes - 1) / kLanes;
  parallel_for(outer * blocks, softmax_grain(r * std::min(inner, kLanes)), [&](int64_t begin, int64_t end) {
    double s[kLanes], total[kLanes];
    float hi[kLanes], lo[kLanes];
    for (int64_t task = begin; task < end; task++) {
      const int64_t o = task / blocks, j0 = (task % blocks) * kLanes, width = std::min(kLanes, inner - j0);
      const int64_t offset = o * r * inner + j0;
      for (int64_t j = 0; j < width; j++) s[j] = total[j] = 0;
      for (int64_t i = 0; i < r; i++) {
        const T* gr = g + offset + i * inner;
        const T* yr = y + offset + i * inner;
        if (log) {
#pragma omp simd
          for (int64_t j = 0; j < width; j++) s[j] += to_float(gr[j]);
        } else {
#pragma omp simd
          for (int64_t j = 0; j < width; j++) {
            s[j] += static_cast<double>(to_float(gr[j])) * to_float(yr[j]);
            total[j] += to_float(yr[j]);
          }
        }
      }
      for (int64_t j = 0; j < width; j++) {
        const F32Pair sum = split_double(log ? s[j] : s[j] / total[j]);
        hi[j] = sum.hi;
        lo[j] = sum.lo;
      }
      for (int64_t i = 0; i < r; i++) {
        const T* gr = g + offset + i * inner;
        const T* yr = y + offset + i * inner;
        T* dr = dx + offset + i * inner;
        if (log) {  // a product, not a difference, with the sum: its f32 rounding (hi) is enough
#pragma omp simd
          for (int64_t j = 0; j < width; j++)
            dr[j] = from_float<T>(to_float(gr[j]) - exp_simd(to_float(yr[j])) * hi[j]);
        } else {
#pragma omp simd
          for (int64_t j = 0; j < width; j++)
            dr[j] = from_float<T>(to_float(yr[j]) * ((to_float(gr[j]) - hi[j]) - lo[j]));
        }
      }
    }
  });
}

struct Extents {
  int64_t outer, r, inner, numel;
};

Extents read_extents(const Args& args, size_t first) {
  Extents e{args.integer(first, "outer"), args.integer(first + 1, "r"), args.integer(first + 2, "inner"), 0};
  e.numel = checked_numel(args, {e.outer, e.r, e.inner});
  return e;
}

// softmax(dtype, x, y, outer, r, inner, log)
Napi::Value SoftmaxKernel(const Napi::CallbackInfo& info) {
  Args args(info, "softmax", 7);
  DType dt = args.float_dtype(0, "dtype");
  Extents e = read_extents(args, 3);
  View x = args.tensor(1, "x", dt, e.numel);
  View y = args.tensor(2, "y", dt, e.numel);
  bool log = args.boolean(6, "log");
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    if (e.inner == 1)
      forward_last(x.as<T>(), y.as<T>(), e.outer, e.r, log);
    else
      forward_strided(x.as<T>(), y.as<T>(), e.outer, e.r, e.inner, log);
  });
  return info.Env().Undefined();
}

// softmaxBackward(dtype, grad, y, dx, outer, r, inner, log)
Napi::Value SoftmaxBackwardKernel(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxBackward", 8);
  DType dt = args.float_dtype(0, "dtype");
  Extents e = read_extents(args, 4);
  View g = args.tensor(1, "grad", dt, e.numel);
  View y = args.tensor(2, "y", dt, e.numel);
  View dx = args.tensor(3, "dx", dt, e.numel);
  bool log = args.boolean(7, "log");
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    if (e.inner == 1)
      backward_last(g.as<T>(), y.as<T>(), dx.as<T>(), e.outer, e.r, log);
    else
      backward_strided(g.as<T>(), y.as<T>(), dx.as<T>(), e.outer, e.r, e.inner, log);
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(softmax, SoftmaxKernel);
TURBINE_KERNEL(softmaxBackward, SoftmaxBackwardKernel);

}  // namespace turbine
