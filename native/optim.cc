// Fused optimizer steps: one pass over a parameter updates the parameter and its state, in
// f32 with the scalar coefficients in double, following PyTorch 1.13's single-tensor
// formulas operation by operation so the two agree to float rounding.
#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"
#include "bf16_run.h"
#include "multi_tensor.h"
#include "parallel.h"
#include "registry.h"

namespace turbine {
namespace {

// Elements per block of the Adam update: its five arrays' blocks fit in a 48 KiB L1 together.
constexpr int64_t kAdamBlock = 2048;

// One Adam/AdamW update's coefficients, from a hyper row [lr, beta1, beta2, eps, weightDecay,
// step, decoupled]: Adam (L2 added to the gradient) or, with decoupled = 1, AdamW (the
// parameter decays by lr·wd before the update).
struct AdamCoeffs {
  float bc2_sqrt, neg_step_size, decay, l2, b1, b2, one_b1, one_b2, e;
  bool decoupled;
};

AdamCoeffs adam_coeffs(const Args& args, const double* h) {
  const double lr = h[0], beta1 = h[1], beta2 = h[2], eps = h[3], wd = h[4], step = h[5];
  args.require(step >= 1, "step must be at least 1, got %g", step);
  const bool decoupled = h[6] != 0;
  return {static_cast<float>(std::sqrt(1.0 - std::pow(beta2, step))),
          static_cast<float>(-lr / (1.0 - std::pow(beta1, step))),
          static_cast<float>(1.0 - lr * wd),
          decoupled ? 0.0f : static_cast<float>(wd),
          static_cast<float>(beta1),
          static_cast<float>(beta2),
          static_cast<float>(1.0 - beta1),
          static_cast<float>(1.0 - beta2),
          static_cast<float>(eps),
          decoupled};
}

// One Adam parameter's arrays (low: its bf16 copy, or null).
struct AdamArrays {
  float* p;
  const float* g;
  float* m;
  float* v;
  bf16* low;
  int64_t n;
};

// The update of elements [begin, end). Never inlined: the single-tensor and multi-tensor
// kernels run this one compiled loop on the same ranges, so their results are the same bits.
// AdamW's decay is its own loop: in one loop, GCC's vector version (AVX2) fused the decay's
// product into the update's sum (one rounding instead of two), so a quarter of the elements
// came out one ulp from the scalar remainder's, and the update's bits depended on where an
// element falls (the committed version-1 checkpoint, test/train/checkpoint.test.ts, caught
// it). Kept scalar instead, the loop cost the mlp 7.4 ms a step on one thread, against 2.1.
__attribute__((noinline)) void adam_range(const AdamCoeffs& c, const AdamArrays& a, int64_t begin, int64_t end) {
  float* pp = a.p;
  const float* gg = a.g;
  float* mm = a.m;
  float* vv = a.v;
  // In blocks that stay in L1, so the decay, the update and the bf16 copy each read from
  // cache: one loop doing the update and the copy does not vectorise (GCC 12), which costs 8x
  // (bf16_run.h).
  for (int64_t block = begin; block < end; block += kAdamBlock) {
    const int64_t stop = std::min(end, block + kAdamBlock);
    if (c.decoupled) {
#pragma omp simd
      for (int64_t i = block; i < stop; i++) pp[i] *= c.decay;
    }
    // c.l2 is 0 when decoupled (adam_coeffs), so the L2 term never reads a decayed weight.
#pragma omp simd
    for (int64_t i = block; i < stop; i++) {
      const float param = pp[i];
      const float grad = c.l2 != 0.0f ? gg[i] + c.l2 * param : gg[i];
      const float avg = mm[i] * c.b1 + c.one_b1 * grad;
      const float sq = vv[i] * c.b2 + c.one_b2 * grad * grad;
      mm[i] = avg;
      vv[i] = sq;
      const float denom = std::sqrt(sq) / c.bc2_sqrt + c.e;
      pp[i] = param + c.neg_step_size * avg / denom;  // addcdiv's order: (value·t1) / t2
    }
    if (a.low) f32_to_bf16_run(pp, a.low, block, stop);
  }
}

// adamStep(param, grad, expAvg, expAvgSq, paramBf16|null, hyper) with hyper = Float64Array
// [lr, beta1, beta2, eps, weightDecay, step, decoupled]. paramBf16, when given, receives the
// updated parameter rounded to bf16 in the same pass: autocast's copy of the weight for the
// next step, without a cast that reads the weight again.
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Args args(info, "adamStep", 6);
  View p = args.tensor_any(0, "param", DType::F32);
  const int64_t n = static_cast<int64_t>(p.bytes / 4);
  const AdamArrays a{p.as<float>(),
                     args.tensor(1, "grad", DType::F32, n).as<float>(),
                     args.tensor(2, "expAvg", DType::F32, n).as<float>(),
                     args.tensor(3, "expAvgSq", DType::F32, n).as<float>(),
                     args.is_null(4) ? nullptr : args.tensor(4, "paramBf16", DType::BF16, n).as<bf16>(),
                     n};
  const AdamCoeffs c = adam_coeffs(args, args.doubles(5, "hyper", 7));
  parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) { adam_range(c, a, begin, end); });
  return info.Env().Undefined();
}

// adamStepMulti(params, grads, expAvgs, expAvgSqs, paramsBf16, hyper): adamStep over every
// parameter of the lists (paramsBf16's entries may be null) in one call, parameters and their
// pieces spread over the threads; hyper holds one row of adamStep's seven values per parameter.
// Every array is checked before any is written.
Napi::Value AdamStepMulti(const Napi::CallbackInfo& info) {
  Args args(info, "adamStepMulti", 6);
  const uint32_t count = args.list_length(0, "params");
  require_same_lengths(args, count, {{1, "grads"}, {2, "expAvgs"}, {3, "expAvgSqs"}, {4, "paramsBf16"}});
  const double* h = args.doubles(5, "hyper", 7 * static_cast<size_t>(count));
  std::vector<AdamArrays> arrays(count);
  std::vector<AdamCoeffs> coeffs(count);
  std::vector<int64_t> sizes(count);
  for (uint32_t k = 0; k < count; k++) {
    View p = args.list_tensor_any(0, k, "params", DType::F32);
    const int64_t n = static_cast<int64_t>(p.bytes / 4);
    arrays[k] = {
        p.as<float>(),
        args.list_tensor(1, k, "grads", DType::F32, n).as<float>(),
        args.list_tensor(2, k, "expAvgs", DType::F32, n).as<float>(),
        args.list_tensor(3, k, "expAvgSqs", DType::F32, n).as<float>(),
        args.list_entry_is_null(4, k) ? nullptr : args.list_tensor(4, k, "paramsBf16", DType::BF16, n).as<bf16>(),
        n};
    coeffs[k] = adam_coeffs(args, h + 7 * static_cast<size_t>(k));
    sizes[k] = n;
  }
  run_pieces(sizes,
             [&](const Piece& piece) { adam_range(coeffs[piece.param], arrays[piece.param], piece.begin, piece.end); });
  return info.Env().Undefined();
}

// lionStepMulti(params, grads, expAvgs, hyper) with one row [lr, beta1, beta2, weightDecay] per
// parameter: Lion (Chen et al.), p ← p·(1 − lr·wd) − lr·sign(β1·m + (1 − β1)·g), then
// m ← β2·m + (1 − β2)·g, computed in double from the f32 values and rounded once when stored,
// every product rounded before its sum (no fused multiply-add), so the result is the float64
// oracle's bits; sign(±0) is ±0 and NaN stays NaN, as JavaScript's Math.sign.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
Napi::Value LionStepMulti(const Napi::CallbackInfo& info) {
  Args args(info, "lionStepMulti", 4);
  const uint32_t count = args.list_length(0, "params");
  require_same_lengths(args, count, {{1, "grads"}, {2, "expAvgs"}});
  const double* h = args.doubles(3, "hyper", 4 * static_cast<size_t>(count));
  std::vector<float*> ps(count), ms(count);
  std::vector<const float*> gs(count);
  std::vector<int64_t> sizes(count);
  for (uint32_t k = 0; k < count; k++) {
    View p = args.list_tensor_any(0, k, "params", DType::F32);
    sizes[k] = static_cast<int64_t>(p.bytes / 4);
    ps[k] = p.as<float>();
    gs[k] = args.list_tensor(1, k, "grads", DType::F32, sizes[k]).as<float>();
    ms[k] = args.list_tensor(2, k, "expAvgs", DType::F32, sizes[k]).as<float>();
  }
  run_pieces(sizes, [&](const Piece& piece) {
    const double* row = h + 4 * static_cast<size_t>(piece.param);
    const double lr = row[0], beta1 = row[1], beta2 = row[2], decay = 1 - row[0] * row[3];
    float* w = ps[piece.param];
    float* m = ms[piece.param];
    const float* g = gs[piece.param];
#pragma omp simd
    for (int64_t i = piece.begin; i < piece.end; i++) {
      const double c = beta1 * m[i] + (1 - beta1) * g[i];
      const double sign = c > 0 ? 1.0 : c < 0 ? -1.0 : c;
      w[i] = static_cast<float>(w[i] * decay - lr * sign);
      m[i] = static_cast<float>(beta2 * m[i] + (1 - beta2) * g[i]);
    }
  });
  return info.Env().Undefined();
}
#pragma GCC pop_options

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
TURBINE_KERNEL(adamStepMulti, AdamStepMulti);
TURBINE_KERNEL(lionStepMulti, LionStepMulti);
TURBINE_KERNEL(sgdStep, SgdStep);
TURBINE_KERNEL(sumOfSquares, SumOfSquares);
TURBINE_KERNEL(clampInPlace, ClampInPlace);
TURBINE_KERNEL(unscaleAndCheck, UnscaleAndCheck);

}  // namespace turbine
