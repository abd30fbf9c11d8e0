// Layer normalisation over the last `cols` elements of each of `rows` rows, with optional f32
// weight and bias, for f32, bf16 and f16 inputs computed in f32 (the row loops, and how the
// statistics are kept, in layernorm_rows.h). Forward saves each row's mean and reciprocal
// standard deviation for backward.
#include <cmath>

#include "args.h"
#include "extents.h"
#include "layernorm_rows.h"
#include "registry.h"

namespace turbine {
namespace {

// layerNorm(dtype, x, weight|null, bias|null, y, mean, rstd, rows, cols, eps, yDtype)
Napi::Value LayerNormKernel(const Napi::CallbackInfo& info) {
  Args args(info, "layerNorm", 11);
  DType dt = args.float_dtype(0, "dtype");
  const int64_t rows = args.integer(7, "rows"), cols = args.integer(8, "cols");
  const int64_t numel = checked_numel(args, {rows, cols});
  const double eps = args.number(9, "eps");
  args.require(eps >= 0 && std::isfinite(eps), "eps must be a finite number >= 0, got %g", eps);
  View x = args.tensor(1, "x", dt, numel);
  const float* weight = optional_f32(args, 2, "weight", cols);
  const float* bias = optional_f32(args, 3, "bias", cols);
  const DType y_dt = args.float_dtype(10, "yDtype");
  View y = args.tensor(4, "y", y_dt, numel);
  float* mean = args.tensor(5, "mean", DType::F32, 2 * rows).as<float>();
  float* rstd = args.tensor(6, "rstd", DType::F32, rows).as<float>();
  dispatch_float(dt, [&](auto x_tag) {
    dispatch_float(y_dt, [&](auto y_tag) {
      using T = decltype(x_tag);
      const T* xs = x.as<T>();
      layer_norm_forward<T>([&](int64_t row) { return xs + row * cols; }, weight, bias, y.as<decltype(y_tag)>(), mean,
                            rstd, rows, cols, eps);
    });
  });
  return info.Env().Undefined();
}

// layerNormBackward(dtype, grad, x, weight|null, mean, rstd, dx|null, dweight|null, dbias|null, rows, cols, gradDtype)
Napi::Value LayerNormBackwardKernel(const Napi::CallbackInfo& info) {
  Args args(info, "layerNormBackward", 12);
  DType dt = args.float_dtype(0, "dtype");
  const int64_t rows = args.integer(9, "rows"), cols = args.integer(10, "cols");
  const int64_t numel = checked_numel(args, {rows, cols});
  const DType g_dt = args.float_dtype(11, "gradDtype");
  View g = args.tensor(1, "grad", g_dt, numel);
  View x = args.tensor(2, "x", dt, numel);
  const float* weight = optional_f32(args, 3, "weight", cols);
  const float* mean = args.tensor(4, "mean", DType::F32, 2 * rows).as<float>();
  const float* rstd = args.tensor(5, "rstd", DType::F32, rows).as<float>();
  void* dx = args.is_null(6) ? nullptr : args.tensor(6, "dx", dt, numel).data;
  float* dweight = optional_f32(args, 7, "dweight", cols);
  float* dbias = optional_f32(args, 8, "dbias", cols);
  dispatch_float(dt, [&](auto x_tag) {
    using T = decltype(x_tag);
    dispatch_float(g_dt, [&](auto g_tag) {
      T* out = static_cast<T*>(dx);
      layer_norm_backward(
          g.as<decltype(g_tag)>(), x.as<T>(), weight, mean, rstd, out != nullptr,
          [=](int64_t row, const float* values) { store_row(values, out + row * cols, cols); }, dweight, dbias, rows,
          cols, omp_get_max_threads());
    });
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(layerNorm, LayerNormKernel);
TURBINE_KERNEL(layerNormBackward, LayerNormBackwardKernel);

}  // namespace turbine
