// The residual add and the LayerNorm after it in one pass over the rows: sum = x + r (in f32,
// stored in x's dtype: the residual stream the next block adds to), y = LayerNorm(sum). Backward
// folds the residual's own gradient into LayerNorm's input gradient as each row is computed and
// writes it for both summands (r in its own dtype, a bfloat16 branch of a float32 stream).
#include <cmath>

#include "args.h"
#include "extents.h"
#include "layernorm_rows.h"
#include "registry.h"

namespace turbine {
namespace {

// addLayerNorm(dtype, x, rDtype, r, weight|null, bias|null, sum, y, mean, rstd, rows, cols, eps, yDtype)
Napi::Value AddLayerNormKernel(const Napi::CallbackInfo& info) {
  Args args(info, "addLayerNorm", 14);
  const DType dt = args.float_dtype(0, "dtype");
  const DType r_dt = args.float_dtype(2, "rDtype");
  const int64_t rows = args.integer(10, "rows"), cols = args.integer(11, "cols");
  const int64_t numel = checked_numel(args, {rows, cols});
  const double eps = args.number(12, "eps");
  args.require(eps >= 0 && std::isfinite(eps), "eps must be a finite number >= 0, got %g", eps);
  View x = args.tensor(1, "x", dt, numel);
  View r = args.tensor(3, "r", r_dt, numel);
  const float* weight = optional_f32(args, 4, "weight", cols);
  const float* bias = optional_f32(args, 5, "bias", cols);
  View sum = args.tensor(6, "sum", dt, numel);
  const DType y_dt = args.float_dtype(13, "yDtype");
  View y = args.tensor(7, "y", y_dt, numel);
  float* mean = args.tensor(8, "mean", DType::F32, 2 * rows).as<float>();
  float* rstd = args.tensor(9, "rstd", DType::F32, rows).as<float>();
  dispatch_float(dt, [&](auto x_tag) {
    using T = decltype(x_tag);
    dispatch_float(r_dt, [&](auto r_tag) {
      using R = decltype(r_tag);
      dispatch_float(y_dt, [&](auto y_tag) {
        const T* xs = x.as<T>();
        const R* rs = r.as<R>();
        T* ss = sum.as<T>();
        layer_norm_forward<T>(
            [&](int64_t row) {
              const int64_t base = row * cols;
#pragma omp simd
              for (int64_t j = base; j < base + cols; j++) ss[j] = from_float<T>(to_float(xs[j]) + to_float(rs[j]));
              return static_cast<const T*>(ss + base);
            },
            weight, bias, y.as<decltype(y_tag)>(), mean, rstd, rows, cols, eps);
      });
    });
  });
  return info.Env().Undefined();
}

// addLayerNormBackward(dtype, gradY, gradYDtype, gradSum|null, sum, weight|null, mean, rstd, dx|null, rDtype,
// dr|null, dweight|null, dbias|null, rows, cols): dx (dtype) and dr (rDtype) both get gradSum plus
// LayerNorm's input gradient from gradY.
Napi::Value AddLayerNormBackwardKernel(const Napi::CallbackInfo& info) {
  Args args(info, "addLayerNormBackward", 15);
  const DType dt = args.float_dtype(0, "dtype");
  const int64_t rows = args.integer(13, "rows"), cols = args.integer(14, "cols");
  const int64_t numel = checked_numel(args, {rows, cols});
  const DType g_dt = args.float_dtype(2, "gradYDtype");
  View g = args.tensor(1, "gradY", g_dt, numel);
  const void* g_sum = args.is_null(3) ? nullptr : args.tensor(3, "gradSum", dt, numel).data;
  View sum = args.tensor(4, "sum", dt, numel);
  const float* weight = optional_f32(args, 5, "weight", cols);
  const float* mean = args.tensor(6, "mean", DType::F32, 2 * rows).as<float>();
  const float* rstd = args.tensor(7, "rstd", DType::F32, rows).as<float>();
  void* dx = args.is_null(8) ? nullptr : args.tensor(8, "dx", dt, numel).data;
  const DType r_dt = args.float_dtype(9, "rDtype");
  void* dr = args.is_null(10) ? nullptr : args.tensor(10, "dr", r_dt, numel).data;
  float* dweight = optional_f32(args, 11, "dweight", cols);
  float* dbias = optional_f32(args, 12, "dbias", cols);
  dispatch_float(dt, [&](auto x_tag) {
    using T = decltype(x_tag);
    dispatch_float(g_dt, [&](auto g_tag) {
      dispatch_float(r_dt, [&](auto r_tag) {
        using R = decltype(r_tag);
        const T* gs = static_cast<const T*>(g_sum);
        T* dxs = static_cast<T*>(dx);
        R* drs = static_cast<R*>(dr);
        layer_norm_backward(
            g.as<decltype(g_tag)>(), sum.as<T>(), weight, mean, rstd, dx != nullptr || dr != nullptr,
            [=](int64_t row, const float* values) {
              const int64_t base = row * cols;
#pragma omp simd
              for (int64_t j = 0; j < cols; j++) {
                const float total = gs ? values[j] + to_float(gs[base + j]) : values[j];
                if (dxs) dxs[base + j] = from_float<T>(total);
                if (drs) drs[base + j] = from_float<R>(total);
              }
            },
            dweight, dbias, rows, cols, omp_get_max_threads());
      });
    });
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(addLayerNorm, AddLayerNormKernel);
TURBINE_KERNEL(addLayerNormBackward, AddLayerNormBackwardKernel);

}  // namespace turbine
