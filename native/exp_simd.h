// e^x in f32 that the compiler can vectorise: glibc's expf has no SIMD variant without
// -ffast-math, and softmax and cross-entropy spend most of their time in exp. Cephes' range
// reduction and polynomial: within 1 ulp of expf on a dense sample of [-110, 90]; NaN
// propagates, large negative inputs give 0 (through subnormals), large positive ones +inf.
#pragma once
#include <cstdint>
#include <cstring>

namespace turbine {

inline float exp_simd(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer in the low mantissa bits
  // Below -104 the result rounds to 0, above 89 it overflows; the clamps keep 2^n in range and
  // (written as comparisons) let NaN through.
  x = x < -104.0f ? -104.0f : x;
  x = x > 89.0f ? 89.0f : x;
  float shifted = x * kLog2e + kRound;
  float n = shifted - kRound;
  int32_t bits;
  std::memcpy(&bits, &shifted, 4);
  int32_t k = bits - 0x4B400000;  // the integer n, from the mantissa of `shifted`
  float r = x - n * kLn2Hi - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^k as two factors, so k down to -150 (subnormal results) and up to 128 stay representable.
  int32_t k1 = k >> 1, k2 = k - k1;
  int32_t b1 = (k1 + 127) << 23, b2 = (k2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  return p * s1 * s2;
}

}  // namespace turbine
