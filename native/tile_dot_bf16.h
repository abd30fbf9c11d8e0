// tile_matmul's products with AVX512_BF16's dot-product instruction (vdpbf16ps): both factors
// are rounded to bfloat16 (round to nearest even) and each instruction adds the exact products
// of two depth steps to sixteen f32 accumulators, twice the multiply-adds of an f32 FMA at half
// the bytes. For kernels whose inputs are bfloat16 already (attention under autocast), where
// rounding the f32 intermediates that feed a product (probabilities, their gradients) is the
// precision the caller asked for. The functions carry their own target attribute, so the
// portable build compiles them too; callers check has_bf16_dot() at run time.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tile_matmul.h"

#define TURBINE_BF16_DOT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace turbine {

// Whether this CPU executes vdpbf16ps.
inline bool has_bf16_dot() {
  static const bool yes = __builtin_cpu_supports("avx512bf16");
  return yes;
}

namespace bf16_dot {

// Sixteen pairs of bfloat16 interleaved as (lo[i], hi[i]), from two rows of sixteen floats:
// the operand layout of vdpbf16ps, whose lane i multiplies pair i of both factors.
TURBINE_BF16_DOT inline __m512i interleave(__m512 lo, __m512 hi) {
  const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21,
                                         5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(order, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
}

// Up to sixteen floats from p (the rest zero).
TURBINE_BF16_DOT inline __m512 load_some(const float* p, int64_t n) {
  return n >= 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
}

// R rows × W·16 columns of C += Σ over `pairs` depth pairs; pair (r, q) of A is a[r·ar + q·ac],
// pair q of B's columns is row q of b (ldb pairs a row).
template <int R, int W>
TURBINE_BF16_DOT inline void dot_block(const uint32_t* a, int64_t ar, int64_t ac, const uint32_t* b, int64_t ldb,
                                       float* c, int64_t ldc, int64_t pairs, bool accumulate) {
  __m512 acc[R][W];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) {
#pragma GCC unroll 16
    for (int w = 0; w < W; w++) acc[r][w] = accumulate ? _mm512_loadu_ps(c + r * ldc + w * 16) : _mm512_setzero_ps();
  }
  for (int64_t q = 0; q < pairs; q++) {
    __m512bh bv[W];
#pragma GCC unroll 16
    for (int w = 0; w < W; w++) bv[w] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + q * ldb + w * 16));
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const __m512bh av = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[r * ar + q * ac])));
#pragma GCC unroll 16
      for (int w = 0; w < W; w++) acc[r][w] = _mm512_dpbf16_ps(acc[r][w], av, bv[w]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) {
#pragma GCC unroll 16
    for (int w = 0; w < W; w++) _mm512_storeu_ps(c + r * ldc + w * 16, acc[r][w]);
  }
}

template <int R>
TURBINE_BF16_DOT inline void dot_rows(const uint32_t* a, int64_t ar, int64_t ac, const uint32_t* b, int64_t ldb,
                                      float* c, int64_t ldc, int64_t pairs, int64_t width, bool accumulate) {
  switch (width / kTileLanes) {
    case 1:
      dot_block<R, 1>(a, ar, ac, b, ldb, c, ldc, pairs, accumulate);
      break;
    case 2:
      dot_block<R, 2>(a, ar, ac, b, ldb, c, ldc, pairs, accumulate);
      break;
    case 3:
      dot_block<R, 3>(a, ar, ac, b, ldb, c, ldc, pairs, accumulate);
      break;
    default:
      dot_block<R, 4>(a, ar, ac, b, ldb, c, ldc, pairs, accumulate);
      break;
  }
}

}  // namespace bf16_dot

// tile_matmul's contract (C = A·B or C += A·B, n a multiple of kTileLanes, A strided, the same
// Causal skipping) on bfloat16 dot products. Each call rounds its factors into packed scratch
// held here, so one object serves a thread's whole sequence of products; with same_b the B
// packed by this object's previous call is used again (the caller promises the same B, ldb, k
// and n: a query block's Qᵀ against every key block, say).
class Bf16Tiles {
 public:
  TURBINE_BF16_DOT void matmul(TileA a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n,
                               int64_t k, bool accumulate, Causal causal = Causal::kNone, bool same_b = false) {
    const int64_t pairs = (k + 1) / 2;
    if (!same_b) pack_b(b, ldb, k, n, pairs);
    // Pair (r, q) of A at a_[r·ar + q·ac]: rows of pairs when A's rows are contiguous, else
    // columns of pairs, so that either way packing reads A with unit stride.
    int64_t ar, ac;
    if (a.col == 1) {
      ar = round_to_lanes(pairs), ac = 1;
      pack_a_rows(a, m, k, ar);
    } else {
      ar = 1, ac = round_to_lanes(m);
      pack_a_columns(a, m, k, pairs, ac);
    }
    for_each_tile_block(m, n, k, causal,
                        [&](int64_t i, int64_t rows, int64_t c_lo, int64_t c_hi, int64_t p_lo, int64_t p_hi) {
                          // Whole pairs: a skipped term beside a kept one is one of the zeros of A the mask
                          // promises (or the zero padding past k), so including it changes nothing.
                          const int64_t q_lo = p_lo / 2, q_hi = (p_hi + 1) / 2;
                          const uint32_t* ai = a_.data() + i * ar + q_lo * ac;
                          const uint32_t* bi = b_.data() + q_lo * n + c_lo;
                          float* ci = c + i * ldc + c_lo;
                          if (rows == 4)
                            bf16_dot::dot_rows<4>(ai, ar, ac, bi, n, ci, ldc, q_hi - q_lo, c_hi - c_lo, accumulate);
                          else
                            bf16_dot::dot_rows<1>(ai, ar, ac, bi, n, ci, ldc, q_hi - q_lo, c_hi - c_lo, accumulate);
                        });
  }

 private:
  // B [k × n] as `pairs` rows of n pairs (rows 2q and 2q + 1 interleaved; a missing row 2q + 1 is zero).
  TURBINE_BF16_DOT void pack_b(const float* b, int64_t ldb, int64_t k, int64_t n, int64_t pairs) {
    grow(b_, pairs * n);
    for (int64_t q = 0; q < pairs; q++) {
      const float* lo = b + 2 * q * ldb;
      const float* hi = 2 * q + 1 < k ? lo + ldb : nullptr;
      for (int64_t c = 0; c < n; c += kTileLanes) {
        const __m512 h = hi ? _mm512_loadu_ps(hi + c) : _mm512_setzero_ps();
        _mm512_storeu_si512(b_.data() + q * n + c, bf16_dot::interleave(_mm512_loadu_ps(lo + c), h));
      }
    }
  }

  // A with contiguous rows: row r's pairs at a_[r·ld ...], zero past k.
  TURBINE_BF16_DOT void pack_a_rows(TileA a, int64_t m, int64_t k, int64_t ld) {
    grow(a_, m * ld);
    for (int64_t r = 0; r < m; r++) {
      const float* src = a.data + r * a.row;
      uint32_t* dst = a_.data() + r * ld;
      for (int64_t p = 0; p < 2 * ld; p += 2 * kTileLanes) {
        const __m512 lo = bf16_dot::load_some(src + p, std::max<int64_t>(0, k - p));
        const __m512 hi = bf16_dot::load_some(src + p + kTileLanes, std::max<int64_t>(0, k - p - kTileLanes));
        _mm512_storeu_si512(dst + p / 2, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
      }
    }
  }

  // A with contiguous columns (a.row == 1): pair q of rows r..r+15 at a_[q·ld + r ...].
  TURBINE_BF16_DOT void pack_a_columns(TileA a, int64_t m, int64_t k, int64_t pairs, int64_t ld) {
    grow(a_, pairs * ld);
    for (int64_t q = 0; q < pairs; q++) {
      const float* lo = a.data + 2 * q * a.col;
      const float* hi = 2 * q + 1 < k ? lo + a.col : nullptr;
      for (int64_t r = 0; r < m; r += kTileLanes) {
        const int64_t count = std::min(kTileLanes, m - r);
        const __m512 h = hi ? bf16_dot::load_some(hi + r, count) : _mm512_setzero_ps();
        _mm512_storeu_si512(a_.data() + q * ld + r, bf16_dot::interleave(bf16_dot::load_some(lo + r, count), h));
      }
    }
  }

  static void grow(std::vector<uint32_t>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  }

  std::vector<uint32_t> a_, b_;
};

// The f32 tile products behind the same interface as Bf16Tiles, for kernels templated on which
// products they use.
struct F32Tiles {
  void matmul(TileA a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n, int64_t k,
              bool accumulate, Causal causal = Causal::kNone, bool /*same_b*/ = false) {
    tile_matmul(a, b, ldb, c, ldc, m, n, k, accumulate, causal);
  }
};

}  // namespace turbine
