// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as
// easy as 1, 2, 3", SC 2011). Block b of a stream is philox(counter = offset + b, key = seed)
// and gives the 4 words of elements 4b..4b+3, so every element's value depends only on
// (seed, offset, index): any thread split gives the same bits, and dropout's backward
// regenerates its forward mask from (seed, offset) alone.
#include <algorithm>
#include <cmath>

#include "args.h"
#include "parallel.h"
#include "registry.h"

namespace turbine {
namespace {

constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
constexpr double kTwoPow53 = 9007199254740992.0;
constexpr double kTwoPowMinus32 = 1.0 / 4294967296.0;
constexpr double kTwoPi = 6.283185307179586;
constexpr int64_t kTile = 64;  // blocks generated at once: the Philox rounds vectorise across them

struct Stream {
  uint32_t k0, k1;
  uint64_t offset;
};

// Reads (seed, offset) and checks that the stream holds the blocks n elements need.
Stream read_stream(const Args& args, size_t seed_at, size_t offset_at, int64_t n) {
  int64_t seed = args.integer(seed_at, "seed");
  args.require(seed >= 0, "seed must be a non-negative safe integer, got %lld", static_cast<long long>(seed));
  int64_t offset = args.integer(offset_at, "offset");
  args.require(offset >= 0, "offset must be a non-negative safe integer, got %lld", static_cast<long long>(offset));
  args.require(static_cast<double>(offset) + static_cast<double>((n + 3) / 4) <= kTwoPow53,
               "offset %lld leaves too few counters for %lld draws", static_cast<long long>(offset),
               static_cast<long long>(n));
  uint64_t s = static_cast<uint64_t>(seed);
  return Stream{static_cast<uint32_t>(s), static_cast<uint32_t>(s >> 32), static_cast<uint64_t>(offset)};
}

// Philox4x32-10 of the counters offset + first + b (b < kTile), the high counter words zero,
// into words[4b + j]. The rounds run over the whole tile at once (structure of arrays) so the
// 32×32→64-bit multiplies vectorise.
inline void philox_tile(const Stream& s, int64_t first, uint32_t* words) {
  alignas(64) uint32_t c0[kTile], c1[kTile], c2[kTile], c3[kTile];
  const uint64_t base = s.offset + static_cast<uint64_t>(first);
#pragma omp simd
  for (int64_t b = 0; b < kTile; b++) {
    uint64_t c = base + static_cast<uint64_t>(b);
    c0[b] = static_cast<uint32_t>(c);
    c1[b] = static_cast<uint32_t>(c >> 32);
    c2[b] = 0;
    c3[b] = 0;
  }
  uint32_t k0 = s.k0, k1 = s.k1;
  for (int round = 0; round < 10; round++) {
#pragma omp simd
    for (int64_t b = 0; b < kTile; b++) {
      uint64_t p0 = static_cast<uint64_t>(kMul0) * c0[b];
      uint64_t p1 = static_cast<uint64_t>(kMul1) * c2[b];
      uint32_t next0 = static_cast<uint32_t>(p1 >> 32) ^ c1[b] ^ k0;
      uint32_t next2 = static_cast<uint32_t>(p0 >> 32) ^ c3[b] ^ k1;
      c1[b] = static_cast<uint32_t>(p1);
      c3[b] = static_cast<uint32_t>(p0);
      c0[b] = next0;
      c2[b] = next2;
    }
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
#pragma omp simd
  for (int64_t b = 0; b < kTile; b++) {
    words[4 * b] = c0[b];
    words[4 * b + 1] = c1[b];
    words[4 * b + 2] = c2[b];
    words[4 * b + 3] = c3[b];
  }
}

// Calls fn(begin, end, words) over tiles of [0, n), where words[i - begin] is element i's word;
// begin is a multiple of 4 and the tile's last block is complete, so element i ^ 1 (its
// Box–Muller partner) is in words too.
template <typename Fn>
void generate(int64_t n, const Stream& s, Fn fn) {
  int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, kElementGrain / 4, [&](int64_t b0, int64_t b1) {
    alignas(64) uint32_t words[4 * kTile];
    for (int64_t t = b0; t < b1; t += kTile) {
      philox_tile(s, t, words);
      fn(4 * t, std::min(n, 4 * std::min(t + kTile, b1)), words);
    }
  });
}

// Uniform values in [0, 1) with exactly as many bits as T's significand holds, so that
// rounding to T can never reach 1.
template <typename T>
constexpr int kUniformBits = 24;
template <>
constexpr int kUniformBits<bf16> = 8;
template <>
constexpr int kUniformBits<f16> = 11;

template <typename T>
inline float uniform01(uint32_t w) {
  return static_cast<float>(w >> (32 - kUniformBits<T>)) * (1.0f / static_cast<float>(1u << kUniformBits<T>));
}

// randomUniform(dtype, out, seed, offset, low, high): out[i] = low + (high − low)·u, u in [0, 1).
Napi::Value RandomUniform(const Napi::CallbackInfo& info) {
  Args args(info, "randomUniform", 6);
  DType dt = args.float_dtype(0, "dtype");
  View out = args.tensor_any(1, "out", dt);
  int64_t n = static_cast<int64_t>(out.bytes / dtype_size(dt));
  Stream s = read_stream(args, 2, 3, n);
  double low = args.number(4, "low"), high = args.number(5, "high");
  args.require(std::isfinite(low) && std::isfinite(high) && low <= high,
               "bounds must be finite with low <= high, got [%g, %g)", low, high);
  float lo = static_cast<float>(low), span = static_cast<float>(high - low);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.as<T>();
    generate(n, s, [&](int64_t begin, int64_t end, const uint32_t* w) {
#pragma omp simd
      for (int64_t i = begin; i < end; i++) o[i] = from_float<T>(lo + span * uniform01<T>(w[i - begin]));
    });
  });
  return info.Env().Undefined();
}

// randomNormal(dtype, out, seed, offset, mean, std): Box–Muller on the word pairs (4k, 4k+1) and
// (4k+2, 4k+3), in double; u1 = (w + 1)/2^32 is in (0, 1], so |z| <= 6.66.
Napi::Value RandomNormal(const Napi::CallbackInfo& info) {
  Args args(info, "randomNormal", 6);
  DType dt = args.float_dtype(0, "dtype");
  View out = args.tensor_any(1, "out", dt);
  int64_t n = static_cast<int64_t>(out.bytes / dtype_size(dt));
  Stream s = read_stream(args, 2, 3, n);
  double mean = args.number(4, "mean"), std = args.number(5, "std");
  args.require(std::isfinite(mean) && std::isfinite(std) && std >= 0,
               "mean must be finite and std finite and >= 0, got %g and %g", mean, std);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.as<T>();
    generate(n, s, [&](int64_t begin, int64_t end, const uint32_t* w) {
      for (int64_t i = begin; i < end; i += 2) {
        double r = std::sqrt(-2.0 * std::log((static_cast<double>(w[i - begin]) + 1.0) * kTwoPowMinus32));
        double theta = kTwoPi * static_cast<double>(w[i - begin + 1]) * kTwoPowMinus32;
        o[i] = from_float<T>(static_cast<float>(mean + std * r * std::cos(theta)));
        if (i + 1 < end) o[i + 1] = from_float<T>(static_cast<float>(mean + std * r * std::sin(theta)));
      }
    });
  });
  return info.Env().Undefined();
}

// randomInt(out, seed, offset, low, high): integers in [low, high) by multiply-shift of one word
// (bias below (high − low)/2^32, as PyTorch's modulo of one word).
Napi::Value RandomInt(const Napi::CallbackInfo& info) {
  Args args(info, "randomInt", 5);
  View out = args.tensor_any(0, "out", DType::I32);
  int64_t n = static_cast<int64_t>(out.bytes / 4);
  Stream s = read_stream(args, 1, 2, n);
  int64_t low = args.integer(3, "low"), high = args.integer(4, "high");
  args.require(low >= INT32_MIN && high <= static_cast<int64_t>(INT32_MAX) + 1 && low < high,
               "bounds must satisfy -2^31 <= low < high <= 2^31, got [%lld, %lld)", static_cast<long long>(low),
               static_cast<long long>(high));
  uint64_t range = static_cast<uint64_t>(high - low);
  int32_t* o = out.as<int32_t>();
  generate(n, s, [&](int64_t begin, int64_t end, const uint32_t* w) {
#pragma omp simd
    for (int64_t i = begin; i < end; i++) {
      o[i] = static_cast<int32_t>(low + static_cast<int64_t>((w[i - begin] * range) >> 32));
    }
  });
  return info.Env().Undefined();
}

// dropout(dtype, x, out, seed, offset, p): out = x·mask/(1 − p), element i dropped when its word
// is below p·2^32. Forward and backward are the same map (x is the upstream gradient then).
// Dropped elements are multiplied by 0, not replaced, so NaN and inf propagate as in PyTorch.
Napi::Value Dropout(const Napi::CallbackInfo& info) {
  Args args(info, "dropout", 6);
  DType dt = args.float_dtype(0, "dtype");
  View x = args.tensor_any(1, "x", dt);
  int64_t n = static_cast<int64_t>(x.bytes / dtype_size(dt));
  View out = args.tensor(2, "out", dt, n);
  Stream s = read_stream(args, 3, 4, n);
  double p = args.number(5, "p");
  args.require(p >= 0 && p <= 1, "p must be a probability in [0, 1], got %g", p);
  const uint64_t threshold = static_cast<uint64_t>(std::ceil(p * 4294967296.0));
  const float scale = p < 1 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.as<T>();
    T* o = out.as<T>();
    generate(n, s, [&](int64_t begin, int64_t end, const uint32_t* w) {
#pragma omp simd
      for (int64_t i = begin; i < end; i++) {
        float keep = w[i - begin] >= threshold ? scale : 0.0f;
        o[i] = from_float<T>(to_float(in[i]) * keep);
      }
    });
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(randomUniform, RandomUniform);
TURBINE_KERNEL(randomNormal, RandomNormal);
TURBINE_KERNEL(randomInt, RandomInt);
TURBINE_KERNEL(dropout, Dropout);

}  // namespace turbine
