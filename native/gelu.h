// GELU with erf and its derivative in f32, shared by the unary kernels and the fused
// Linear + bias + GELU kernels, so the fused path rounds exactly as the unfused one.
#pragma once

#include "erf_simd.h"
#include "exp_simd.h"

namespace turbine {

constexpr float kGeluInvSqrt2 = 0.7071067811865476f;
constexpr float kGeluInvSqrt2Pi = 0.3989422804014327f;

// x·Φ(x) = 0.5·x·(1 + erf(x/√2)).
inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erf_simd(x * kGeluInvSqrt2)); }

// d/dx x·Φ(x) = Φ(x) + x·φ(x).
inline float gelu_erf_grad(float x) {
  return 0.5f * (1.0f + erf_simd(x * kGeluInvSqrt2)) + x * kGeluInvSqrt2Pi * exp_simd(-0.5f * x * x);
}

}  // namespace turbine
