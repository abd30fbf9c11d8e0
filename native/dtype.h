// Element types and their conversions. bf16 and f16 are stored as 16-bit words and computed in
// f32; the wrappers give them distinct C++ types so templates can dispatch on them.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace turbine {

enum class DType : int { F32 = 0, BF16 = 1, F16 = 2, I32 = 3 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32:
      return "float32";
    case DType::BF16:
      return "bfloat16";
    case DType::F16:
      return "float16";
    case DType::I32:
      return "int32";
  }
  return "unknown";
}

inline size_t dtype_size(DType d) { return d == DType::F32 || d == DType::I32 ? 4 : 2; }

struct bf16 {
  uint16_t bits;
};
struct f16 {
  uint16_t bits;
};

inline float to_float(float v) { return v; }
inline float to_float(bf16 v) {
  uint32_t u = static_cast<uint32_t>(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float to_float(f16 v) {
#if defined(__F16C__)
  return _cvtsh_ss(v.bits);
#else
  uint32_t sign = (v.bits & 0x8000u) << 16, exp = (v.bits >> 10) & 0x1f, man = v.bits & 0x3ffu, u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(man & 0x400u)) {
        man <<= 1;
        exp--;
      }
      u = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((exp - 15 + 127) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// Round to nearest even, NaN stays NaN (a quiet NaN keeps its sign). A select, not a branch,
// so element-wise loops over bf16 vectorise.
inline bf16 to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x40u;
  return bf16{static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded)};
}

inline f16 to_f16(float f) {
#if defined(__F16C__)
  return f16{static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT))};
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return f16{static_cast<uint16_t>(sign | 0x7e00u)};
  if (a >= 0x477ff000u) return f16{static_cast<uint16_t>(sign | 0x7c00u)};  // overflow to inf
  if (a < 0x38800000u) {  // subnormal or zero in f16: scale and round to nearest even
    float af;
    std::memcpy(&af, &a, 4);
    float scaled = af * 16777216.0f;  // 2^24: f16 subnormal unit
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return f16{static_cast<uint16_t>(sign | m)};
  }
  uint32_t exp = (a >> 23) - 127 + 15, man = a & 0x7fffffu;
  uint32_t h = (exp << 10) | (man >> 13);
  uint32_t rest = man & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
  return f16{static_cast<uint16_t>(sign | h)};
#endif
}

template <typename T>
inline T from_float(float v);
template <>
inline float from_float<float>(float v) {
  return v;
}
template <>
inline bf16 from_float<bf16>(float v) {
  return to_bf16(v);
}
template <>
inline f16 from_float<f16>(float v) {
  return to_f16(v);
}

// Calls fn with a value of the C++ element type for a floating dtype.
template <typename Fn>
inline void dispatch_float(DType d, Fn&& fn) {
  switch (d) {
    case DType::F32:
      fn(float{});
      break;
    case DType::BF16:
      fn(bf16{});
      break;
    case DType::F16:
      fn(f16{});
      break;
    default:
      break;  // callers validate the dtype first
  }
}

}  // namespace turbine
