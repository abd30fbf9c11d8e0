// float32 → bfloat16 over a run of elements, round to nearest even with NaN kept quiet: the
// same bits as to_bf16 (dtype.h), written on integers as a branch-free loop that GCC
// vectorises, which it does not do with to_bf16 inside a larger loop. Used by the casts and by
// the fused Adam step that writes autocast's weight copy.
#pragma once
#include <cstdint>

#include "dtype.h"

namespace turbine {

inline void f32_to_bf16_run(const float* s, bf16* d, int64_t begin, int64_t end) {
  const uint32_t* in = reinterpret_cast<const uint32_t*>(s);
  uint16_t* out = reinterpret_cast<uint16_t*>(d);
#pragma omp simd
  for (int64_t i = begin; i < end; i++) {
    const uint32_t u = in[i];
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    out[i] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : rounded);
  }
}

}  // namespace turbine
