// 1-bit gradient compression with error feedback (src/parallel/compression/onebit.ts): packing
// a bucket's signs and unpacking every rank's, in two passes each, where the hook's JavaScript
// loops took ~60 ms per step on the gpt's 3.2M gradients. Sequential and in the hook's own
// arithmetic (squares summed in double in index order, each f32 operation rounded as
// JavaScript's Math.fround would), so its results are bit-for-bit those of the JavaScript.
#include <cmath>
#include <cstdint>

#include "args.h"
#include "registry.h"

namespace turbine {
namespace {

// onebitPack(values, residual, signs) -> scale: x = residual + values (f32); scale =
// f32(√(Σx² / n)); bit i of signs is x_i ≥ 0 (a zero counts as positive) and residual becomes
// x ∓ scale. signs holds ⌈n/32⌉ words, bit i in word i/32 at position i mod 32.
Napi::Value OnebitPack(const Napi::CallbackInfo& info) {
  Args args(info, "onebitPack", 3);
  View values = args.tensor_any(0, "values", DType::F32);
  const int64_t n = static_cast<int64_t>(values.bytes / 4);
  float* residual = args.tensor(1, "residual", DType::F32, n).as<float>();
  int32_t* signs = args.tensor(2, "signs", DType::I32, (n + 31) / 32).as<int32_t>();
  const float* v = values.as<float>();
  double squares = 0;
  for (int64_t i = 0; i < n; i++) {
    const float x = residual[i] + v[i];
    squares += static_cast<double>(x) * static_cast<double>(x);
  }
  const float scale = n == 0 ? 0.0f : static_cast<float>(std::sqrt(squares / static_cast<double>(n)));
  for (int64_t w = 0; w * 32 < n; w++) {
    uint32_t bits = 0;
    const int64_t end = n < (w + 1) * 32 ? n : (w + 1) * 32;
    for (int64_t i = w * 32; i < end; i++) {
      const float x = residual[i] + v[i];
      const bool positive = x >= 0;
      bits |= static_cast<uint32_t>(positive) << (i & 31);
      residual[i] = positive ? x - scale : x + scale;
    }
    signs[w] = static_cast<int32_t>(bits);
  }
  return Napi::Number::New(info.Env(), scale);
}

// onebitUnpack(values, signs, scales: Float64Array): values_i = Σ over ranks r in order of ±scales[r] (f32 sums
// from 0, each term in double as the hook's), + where bit i of rank r's ⌈n/32⌉ words is set.
Napi::Value OnebitUnpack(const Napi::CallbackInfo& info) {
  Args args(info, "onebitUnpack", 3);
  View values = args.tensor_any(0, "values", DType::F32);
  const int64_t n = static_cast<int64_t>(values.bytes / 4), words = (n + 31) / 32;
  View all = args.tensor_any(1, "signs", DType::I32);
  const int64_t ranks = words == 0 ? 0 : static_cast<int64_t>(all.bytes / 4) / words;
  args.require(ranks * words * 4 == static_cast<int64_t>(all.bytes), "signs holds %lld words, not a multiple of %lld",
               static_cast<long long>(all.bytes / 4), static_cast<long long>(words));
  const double* scales = args.doubles(2, "scales", static_cast<size_t>(ranks));
  const uint32_t* signs = all.as<uint32_t>();
  float* out = values.as<float>();
  for (int64_t i = 0; i < n; i++) out[i] = 0.0f;
  for (int64_t r = 0; r < ranks; r++) {
    const double s = scales[r];
    const uint32_t* own = signs + r * words;
    for (int64_t i = 0; i < n; i++) {
      const bool positive = (own[i >> 5] >> (i & 31)) & 1u;
      out[i] = static_cast<float>(static_cast<double>(out[i]) + (positive ? s : -s));
    }
  }
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(onebitPack, OnebitPack);
TURBINE_KERNEL(onebitUnpack, OnebitUnpack);

}  // namespace turbine
