// Element-wise unary ops and their backward rules, for f32, bf16 and f16 (computed in f32).
// Codes are exported as unaryCodes / unaryBackwardCodes so TypeScript never hard-codes them.
#include <cmath>

#include "args.h"
#include "exp_simd.h"
#include "gelu.h"
#include "parallel.h"
#include "registry.h"

namespace turbine {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCoeff = 0.044715f;

#define UNARY_OPS(X)                                   \
  X(neg, -x)                                           \
  X(exp, std::exp(x))                                  \
  X(log, std::log(x))                                  \
  X(sqrt, std::sqrt(x))                                \
  X(rsqrt, 1.0f / std::sqrt(x))                        \
  X(tanh, std::tanh(x))                                \
  X(sigmoid, 1.0f / (1.0f + std::exp(-x)))             \
  X(relu, x > 0.0f ? x : 0.0f)                         \
  X(gelu_tanh, x* gelu_tanh_gate(x))                   \
  X(gelu_erf, turbine::gelu_erf(x))                    \
  X(abs, std::fabs(x))                                 \
  X(sign, static_cast<float>((x > 0.0f) - (x < 0.0f))) \
  X(square, x* x)                                      \
  X(reciprocal, 1.0f / x)                              \
  X(scale, alpha* x)                                   \
  X(shift, x + alpha)                                  \
  X(pow, std::pow(x, alpha))                           \
  X(clamp_min, x < alpha ? alpha : x)                  \
  X(fill, alpha)

// s is the saved value: the input x or the output y, as the rule's comment says.
#define UNARY_BACKWARD_OPS(X)                                                  \
  X(relu, s > 0.0f ? g : 0.0f)                                         /* x */ \
  X(gelu_tanh, g* gelu_tanh_grad(s))                                   /* x */ \
  X(gelu_erf, g* gelu_erf_grad(s))                                     /* x */ \
  X(tanh, g*(1.0f - s * s))                                            /* y */ \
  X(sigmoid, g* s*(1.0f - s))                                          /* y */ \
  X(exp, g* s)                                                         /* y */ \
  X(log, g / s)                                                        /* x */ \
  X(sqrt, g / (2.0f * s))                                              /* y */ \
  X(rsqrt, -0.5f * g * s * s * s)                                      /* y */ \
  X(abs, g* static_cast<float>((s > 0.0f) - (s < 0.0f)))               /* x */ \
  X(square, 2.0f * g * s)                                              /* x */ \
  X(reciprocal, -g* s* s)                                              /* y */ \
  X(pow, alpha == 0.0f ? 0.0f : g * alpha * std::pow(s, alpha - 1.0f)) /* x */ \
  X(clamp_min, s < alpha ? 0.0f : g)                                   /* x */

// 0.5·(1 + tanh(u)) = σ(2u): the tanh approximation's gate as a sigmoid, stable at both ends
// and vectorisable through exp_simd.
inline float gelu_tanh_gate(float x) {
  const float u = kSqrt2OverPi * (x + kGeluCoeff * x * x * x);
  return 1.0f / (1.0f + exp_simd(-2.0f * u));
}

// d/dx x·s(x) with s = σ(2u): s + x·2s(1 − s)·u'(x), since 1 − tanh² = 4s(1 − s).
inline float gelu_tanh_grad(float x) {
  const float s = gelu_tanh_gate(x);
  return s + 2.0f * x * s * (1.0f - s) * kSqrt2OverPi * (1.0f + 3.0f * kGeluCoeff * x * x);
}

enum class Unary : int {
#define X(name, expr) name,
  UNARY_OPS(X)
#undef X
      count
};

enum class UnaryBackward : int {
#define X(name, expr) name,
  UNARY_BACKWARD_OPS(X)
#undef X
      count
};

template <typename T, typename Fn>
void map1(const T* in, T* out, int64_t n, Fn f) {
  parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; i++) out[i] = from_float<T>(f(to_float(in[i])));
  });
}

template <typename T, typename Fn>
void map2(const T* a, const T* b, T* out, int64_t n, Fn f) {
  parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; i++) out[i] = from_float<T>(f(to_float(a[i]), to_float(b[i])));
  });
}

template <typename T>
void unary(Unary op, const T* in, T* out, int64_t n, float alpha) {
  switch (op) {
#define X(name, expr)                   \
  case Unary::name:                     \
    map1(in, out, n, [alpha](float x) { \
      (void)alpha;                      \
      return expr;                      \
    });                                 \
    break;
    UNARY_OPS(X)
#undef X
    default:
      break;
  }
}

template <typename T>
void unary_backward(UnaryBackward op, const T* grad, const T* saved, T* out, int64_t n, float alpha) {
  switch (op) {
#define X(name, expr)                                     \
  case UnaryBackward::name:                               \
    map2(grad, saved, out, n, [alpha](float g, float s) { \
      (void)alpha;                                        \
      return expr;                                        \
    });                                                   \
    break;
    UNARY_BACKWARD_OPS(X)
#undef X
    default:
      break;
  }
}

// unary(code, dtype, x, out, alpha)
Napi::Value UnaryKernel(const Napi::CallbackInfo& info) {
  Args args(info, "unary", 5);
  int64_t code = args.integer(0, "code");
  args.require(code >= 0 && code < static_cast<int64_t>(Unary::count), "unknown unary op code %lld",
               static_cast<long long>(code));
  DType dt = args.float_dtype(1, "dtype");
  View x = args.tensor_any(2, "x", dt);
  int64_t n = static_cast<int64_t>(x.bytes / dtype_size(dt));
  View out = args.tensor(3, "out", dt, n);
  float alpha = static_cast<float>(args.number(4, "alpha"));
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    unary(static_cast<Unary>(code), x.as<T>(), out.as<T>(), n, alpha);
  });
  return info.Env().Undefined();
}

// unaryBackward(code, dtype, grad, saved, out, alpha)
Napi::Value UnaryBackwardKernel(const Napi::CallbackInfo& info) {
  Args args(info, "unaryBackward", 6);
  int64_t code = args.integer(0, "code");
  args.require(code >= 0 && code < static_cast<int64_t>(UnaryBackward::count), "unknown unary backward code %lld",
               static_cast<long long>(code));
  DType dt = args.float_dtype(1, "dtype");
  View g = args.tensor_any(2, "grad", dt);
  int64_t n = static_cast<int64_t>(g.bytes / dtype_size(dt));
  View s = args.tensor(3, "saved", dt, n);
  View out = args.tensor(4, "out", dt, n);
  float alpha = static_cast<float>(args.number(5, "alpha"));
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    unary_backward(static_cast<UnaryBackward>(code), g.as<T>(), s.as<T>(), out.as<T>(), n, alpha);
  });
  return info.Env().Undefined();
}

Napi::Value UnaryCodes(const Napi::CallbackInfo& info) {
  Napi::Object forward = Napi::Object::New(info.Env());
  Napi::Object backward = Napi::Object::New(info.Env());
#define X(name, expr) forward.Set(#name, static_cast<int>(Unary::name));
  UNARY_OPS(X)
#undef X
#define X(name, expr) backward.Set(#name, static_cast<int>(UnaryBackward::name));
  UNARY_BACKWARD_OPS(X)
#undef X
  Napi::Object codes = Napi::Object::New(info.Env());
  codes.Set("forward", forward);
  codes.Set("backward", backward);
  return codes;
}

}  // namespace

TURBINE_KERNEL(unary, UnaryKernel);
TURBINE_KERNEL(unaryBackward, UnaryBackwardKernel);
TURBINE_KERNEL(unaryCodes, UnaryCodes);

}  // namespace turbine
