// Fused optimizer steps: one pass over a parameter updates the parameter and its state, in
// f32 with the scalar coefficients in double, following PyTorch 1.13's single-tensor
// formulas operation by operation so the two agree to float rounding.
#include <algorithm>
#include <cmath>

#include "args.h"
#include "bf16_run.h"
#include "parallel.h"
#include "registry.h"

namespace turbine {
namespace {

// Elements per block of the Adam update: its five arrays' blocks fit in a 48 KiB L1 together.
constexpr int64_t kAdamBlock = 2048;

// adamStep(param, grad, expAvg, expAvgSq, paramBf16|null, hyper) with hyper = Float64Array
// [lr, beta1, beta2, eps, weightDecay, step, decoupled]: Adam (L2 added to the gradient) or,
// with decoupled = 1, AdamW (the parameter decays by lr·wd before the update). paramBf16, when
// given, receives the updated parameter rounded to bf16 in the same pass: autocast's copy of
// the weight for the next step, without a cast that reads the weight again.
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Args args(info, "adamStep", 6);
  View p = args.tensor_any(0, "param", DType::F32);
  const int64_t n = static_cast<int64_t>(p.bytes / 4);
  View g = args.tensor(1, "grad", DType::F32, n);
  View m = args.tensor(2, "expAvg", DType::F32, n);
  View v = args.tensor(3, "expAvgSq", DType::F32, n);
  bf16* low = args.is_null(4) ? nullptr : args.tensor(4, "paramBf16", DType::BF16, n).as<bf16>();
  const double* h = args.doubles(5, "hyper", 7);
  const double lr = h[0], beta1 = h[1], beta2 = h[2], eps = h[3], wd = h[4], step = h[5];
  const bool decoupled = h[6] != 0;
  args.require(step >= 1, "step must be at least 1, got %g", step);
  const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, step)));
  const float neg_step_size = static_cast<float>(-lr / (1.0 - std::pow(beta1, step)));
  const float decay = static_cast<float>(1.0 - lr * wd);
  const float l2 = decoupled ? 0.0f : static_cast<float>(wd);
  const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
  const float one_b1 = static_cast<float>(1.0 - beta1), one_b2 = static_cast<float>(1.0 - beta2);
  const float e = static_cast<float>(eps);
  float* pp = p.as<float>();
  const float* gg = g.as<float>();
  float* mm = m.as<float>();
  float* vv = v.as<float>();
  parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
    // In blocks that stay in L1, so the bf16 copy is written from cache in a second loop:
    // one loop doing both does not vectorise (GCC 12), which costs 8x (bf16_run.h).
    for (int64_t block = begin; block < end; block += kAdamBlock) {
      const int64_t stop = std::min(end, block + kAdamBlock);
#pragma omp simd
      for (int64_t i = block; i < stop; i++) {
        float param = pp[i];
        if (decoupled) param *= decay;
        const float grad = l2 != 0.0f ? gg[i] + l2 * pp[i] : gg[i];
        const float avg = mm[i] * b1 + one_b1 * grad;
        const float sq = vv[i] * b2 + one_b2 * grad * grad;
        mm[i] = avg;
        vv[i] = sq;
        const float denom = std::sqrt(sq) / bc2_sqrt + e;
        pp[i] = param + neg_step_size * avg / denom;  // addcdiv's order: (value·t1) / t2
      }
      if (low) f32_to_bf16_run(pp, low, block, stop);
    }
  });
  return info.Env().Undefined();
}

// sgdStep(param, grad, momentumBuffer|null, hyper) with hyper = Float64Array
// [lr, momentum, dampening, weightDecay, nesterov, firstStep]; on the first step the buffer
// takes the gradient itself, as PyTorch's does.
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Args args(info, "sgdStep", 4);
  View p = args.tensor_any(0, "param", DType::F32);
  const int64_t n = static_cast<int64_t>(p.bytes / 4);
  View g = args.tensor(1, "grad", DType::F32, n);
  const bool has_buf = !args.is_null(2);
  View b = has_buf ? args.tensor(2, "momentumBuffer", DType::F32, n) : View{};
  const double* h = args.doubles(3, "hyper", 6);
  const float lr = static_cast<float>(h[0]), momentum = static_cast<float>(h[1]);
  const float keep = static_cast<float>(1.0 - h[2]), wd = static_cast<float>(h[3]);
  const bool nesterov = h[4] != 0, first = h[5] != 0;
  args.require(has_buf || momentum == 0.0f, "momentum %g needs a momentum buffer", h[1]);
  float* pp = p.as<float>();
  const float* gg = g.as<float>();
  float* bb = b.as<float>();
  parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; i++) {
      float d = wd != 0.0f ? gg[i] + wd * pp[i] : gg[i];
      if (has_buf) {
        const float buf = first ? d : bb[i] * momentum + keep * d;
        bb[i] = buf;
        d = nesterov ? d + momentum * buf : buf;
      }
      pp[i] = pp[i] - lr * d;
    }
  });
  return info.Env().Undefined();
}

// sumOfSquares(dtype, x) -> Σ x² accumulated in double (for global gradient norms).
Napi::Value SumOfSquares(const Napi::CallbackInfo& info) {
  Args args(info, "sumOfSquares", 2);
  DType dt = args.float_dtype(0, "dtype");
  View x = args.tensor_any(1, "x", dt);
  const int64_t n = static_cast<int64_t>(x.bytes / dtype_size(dt));
  double total = 0;
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* data = x.as<T>();
    const int threads = n > kElementGrain ? omp_get_max_threads() : 1;
#pragma omp parallel for reduction(+ : total) num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
      const double v = to_float(data[i]);
      total += v * v;
    }
  });
  return Napi::Number::New(info.Env(), total);
}

// clampInPlace(dtype, x, low, high): clip by value.
Napi::Value ClampInPlace(const Napi::CallbackInfo& info) {
  Args args(info, "clampInPlace", 4);
  DType dt = args.float_dtype(0, "dtype");
  View x = args.tensor_any(1, "x", dt);
  const float low = static_cast<float>(args.number(2, "low")), high = static_cast<float>(args.number(3, "high"));
  args.require(low <= high, "low %g exceeds high %g", low, high);
  const int64_t n = static_cast<int64_t>(x.bytes / dtype_size(dt));
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    T* data = x.as<T>();
    parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; i++) {
        const float v = to_float(data[i]);
        data[i] = from_float<T>(v < low ? low : v > high ? high : v);
      }
    });
  });
  return info.Env().Undefined();
}

// unscaleAndCheck(dtype, x, invScale) -> whether x held an inf or NaN. Multiplies x by
// invScale in place and checks every original element in the same pass, as PyTorch's
// _amp_foreach_non_finite_check_and_unscale_ (it unscales even when it finds one).
Napi::Value UnscaleAndCheck(const Napi::CallbackInfo& info) {
  Args args(info, "unscaleAndCheck", 3);
  DType dt = args.float_dtype(0, "dtype");
  View x = args.tensor_any(1, "x", dt);
  const float inv_scale = static_cast<float>(args.number(2, "invScale"));
  const int64_t n = static_cast<int64_t>(x.bytes / dtype_size(dt));
  int nonfinite = 0;
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    T* data = x.as<T>();
    const int threads = n > kElementGrain ? omp_get_max_threads() : 1;
#pragma omp parallel for reduction(| : nonfinite) num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
      const float v = to_float(data[i]);
      nonfinite |= !std::isfinite(v);
      data[i] = from_float<T>(v * inv_scale);
    }
  });
  return Napi::Boolean::New(info.Env(), nonfinite != 0);
}

}  // namespace

TURBINE_KERNEL(adamStep, AdamStep);
TURBINE_KERNEL(sgdStep, SgdStep);
TURBINE_KERNEL(sumOfSquares, SumOfSquares);
TURBINE_KERNEL(clampInPlace, ClampInPlace);
TURBINE_KERNEL(unscaleAndCheck, UnscaleAndCheck);

}  // namespace turbine
