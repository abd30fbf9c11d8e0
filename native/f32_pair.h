// A double carried as two floats, hi + lo, so f32 loops can subtract it without its rounding:
// (x − hi) − lo is exact to f32 rounding of the result even when x and the value nearly cancel
// (softmax's g − Σ g·y near a one-hot output, layer norm's x − mean for rows far from zero).
#pragma once

namespace turbine {

struct F32Pair {
  float hi, lo;
};

inline F32Pair split_double(double v) {
  const float hi = static_cast<float>(v);
  return {hi, static_cast<float>(v - hi)};
}

}  // namespace turbine
