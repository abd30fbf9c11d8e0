// tile_matmul's products on AMX (Advanced Matrix Extensions: Intel Xeon from Sapphire Rapids on).
// One TDPBF16PS multiplies a 16 × 32 bfloat16 tile by a 32 × 16 one (its rows taken in
// interleaved pairs, the layout of vdpbf16ps) into a 16 × 16 f32 tile: 8192 multiply-adds, 16×
// what one vdpbf16ps does. Attention's 64 × 64 × 64 tile products then take a few hundred
// cycles, so what is left of their cost is rounding the factors into the tiles' layouts.
//
// AmxTiles rounds both factors to bfloat16, as Bf16Tiles does. AmxSplitTiles keeps about 16 bits
// of each factor's significand, for the products whose factors must not be rounded to bfloat16
// (attention's dS, a difference): each factor x is split into hi = bf16(x) and lo = bf16(x − hi),
// and C gets hi·hi + lo·hi + hi·lo, whose relative error (~2⁻¹⁶) is far below the bf16 outputs'.
// The functions carry their own target attribute, so the portable build compiles them too;
// callers check has_amx() at run time.
#pragma once
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tile_dot_bf16.h"

#define TURBINE_AMX __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

namespace turbine {

// Whether this CPU has AMX's bf16 products and Linux lets this process use the tile registers
// (their 8 KiB of state is granted per process on request). TURBINE_NO_AMX=1 turns them off, to
// compare with the vdpbf16ps products on the same machine.
inline bool has_amx() {
  static const bool yes = [] {
    const char* off = std::getenv("TURBINE_NO_AMX");
    if (off != nullptr && *off != '\0' && std::strcmp(off, "0") != 0) return false;
    if (!__builtin_cpu_supports("amx-bf16")) return false;
    constexpr long kRequestPermission = 0x1023, kTileData = 18;  // ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA
    return syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
  }();
  return yes;
}

namespace amx {

constexpr int64_t kRows = 16;   // rows of every tile
constexpr int64_t kPairs = 16;  // depth pairs of an A tile's row (64 bytes)

inline int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// x, or its residual x − bf16(x) when `residual` (the lo half of a split).
TURBINE_AMX inline __m512 part(__m512 x, bool residual) {
  if (!residual) return x;
  // bf16(x) as f32, rounded to nearest even as vcvtne2ps2bf16 rounds (finite x).
  const __m512i bits = _mm512_castps_si512(x);
  // maskz_: GCC 12 warns that the unmasked shift's pass-through is uninitialised.
  const __m512i odd = _mm512_and_si512(_mm512_maskz_srli_epi32(0xffff, bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff)));
  return _mm512_sub_ps(x, _mm512_castsi512_ps(_mm512_and_si512(rounded, _mm512_set1_epi32(~0xffff))));
}

// The tile configuration: eight tiles of 16 rows of 64 bytes (see block for their roles).
struct alignas(64) Config {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// A factor packed for the tiles: rows(16-padded) × ld pairs, row-major (A), or pairs(16-padded)
// rows × n columns of pairs (B); the padding is zero.
struct Packed {
  std::vector<uint32_t> data;
  int64_t ld = 0;
  uint32_t* reset(int64_t rows, int64_t ld_) {
    ld = ld_;
    if (static_cast<int64_t>(data.size()) < rows * ld) data.resize(static_cast<size_t>(rows * ld));
    return data.data();
  }
};

// A [m × k] (TileA, f32) as bf16 pairs, row-major: row r's pair q at out[r·ld + q].
TURBINE_AMX inline void pack_a(TileA a, int64_t m, int64_t k, bool residual, Packed& out) {
  const int64_t ld = round_up((k + 1) / 2, kPairs), rows = round_up(m, kRows);
  uint32_t* dst = out.reset(rows, ld);
  if (a.col == 1) {
    for (int64_t r = 0; r < m; r++) {
      const float* src = a.data + r * a.row;
      for (int64_t p = 0; p < 2 * ld; p += 2 * kTileLanes) {
        const __m512 lo = part(bf16_dot::load_some(src + p, std::max<int64_t>(0, k - p)), residual);
        const __m512 hi =
            part(bf16_dot::load_some(src + p + kTileLanes, std::max<int64_t>(0, k - p - kTileLanes)), residual);
        _mm512_storeu_si512(dst + r * ld + p / 2, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
      }
    }
  } else {
    // Columns contiguous (a.row == 1): a pair of columns gives sixteen rows' pairs at once,
    // scattered down column q of the packed rows.
    const __m512i down = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32(static_cast<int>(ld)));
    for (int64_t q = 0; q < ld; q++) {
      const float* lo = 2 * q < k ? a.data + 2 * q * a.col : nullptr;
      const float* hi = 2 * q + 1 < k ? lo + a.col : nullptr;
      for (int64_t r = 0; r < rows; r += kRows) {
        const int64_t count = std::max<int64_t>(0, std::min(kRows, m - r));
        const __m512 l = lo ? part(bf16_dot::load_some(lo + r, count), residual) : _mm512_setzero_ps();
        const __m512 h = hi ? part(bf16_dot::load_some(hi + r, count), residual) : _mm512_setzero_ps();
        _mm512_i32scatter_epi32(dst + r * ld + q, down, bf16_dot::interleave(l, h), 4);
      }
    }
    return;
  }
  std::memset(dst + m * ld, 0, static_cast<size_t>((rows - m) * ld) * sizeof(uint32_t));
}

// B [k × n] (row stride ldb, n a multiple of 16) as pairs of rows, interleaved: pair q of column c
// at out[q·n + c].
TURBINE_AMX inline void pack_b(const float* b, int64_t ldb, int64_t k, int64_t n, bool residual, Packed& out) {
  const int64_t pairs = round_up((k + 1) / 2, kPairs);
  uint32_t* dst = out.reset(pairs, n);
  for (int64_t q = 0; q < pairs; q++) {
    const float* lo = 2 * q < k ? b + 2 * q * ldb : nullptr;
    const float* hi = 2 * q + 1 < k ? lo + ldb : nullptr;
    for (int64_t c = 0; c < n; c += kTileLanes) {
      const __m512 l = lo ? part(_mm512_loadu_ps(lo + c), residual) : _mm512_setzero_ps();
      const __m512 h = hi ? part(_mm512_loadu_ps(hi + c), residual) : _mm512_setzero_ps();
      _mm512_storeu_si512(dst + q * n + c, bf16_dot::interleave(l, h));
    }
  }
}

// The depth blocks (of 32) that rows i..i+rows−1 of a causal diagonal tile need (see Causal):
// the terms of A the mask zeroes may be skipped, or not, without changing C.
inline void depth_blocks(Causal causal, int64_t i, int64_t rows, int64_t blocks, int64_t& lo, int64_t& hi) {
  lo = 0, hi = blocks;
  if (causal == Causal::kDepthFromRow) lo = std::min(blocks, i / (2 * kPairs));
  if (causal == Causal::kDepthToRow) hi = std::min(blocks, (i + rows - 1) / (2 * kPairs) + 1);
}

// Whether the C rows i..i+rows−1, columns c..c+cols−1 hold nothing the caller reads (see Causal).
inline bool masked_block(Causal causal, int64_t i, int64_t rows, int64_t c, int64_t cols) {
  return (causal == Causal::kColumnsFromRow && c + cols <= i) || (causal == Causal::kColumnsToRow && c > i + rows - 1);
}

// One 16 × 16 tile of C: rows of the caller's C where all 16 exist, else an edge buffer whose
// rows are copied in (accumulating) and out.
class CTile {
 public:
  CTile(float* c, int64_t ldc, int64_t rows) : c_(c), ldc_(ldc), rows_(rows) {}
  float* target() { return rows_ == kRows ? c_ : edge_; }
  int64_t stride() const { return (rows_ == kRows ? ldc_ : kTileLanes) * static_cast<int64_t>(sizeof(float)); }
  void copy_in() {
    if (rows_ == kRows) return;
    std::memset(edge_, 0, sizeof(edge_));
    for (int64_t r = 0; r < rows_; r++) std::memcpy(edge_ + r * kTileLanes, c_ + r * ldc_, 64);
  }
  void copy_out() {
    for (int64_t r = 0; r < rows_ && rows_ < kRows; r++) std::memcpy(c_ + r * ldc_, edge_ + r * kTileLanes, 64);
  }

 private:
  float* c_;
  int64_t ldc_, rows_;
  alignas(64) float edge_[kRows * kTileLanes];
};

// R × W tiles of C from row i, column col: tiles 0..3 accumulate C (row-major, 2 per row),
// 4..5 hold A's row tiles and 6..7 B's column tiles. Independent accumulators matter: each
// TDPBF16PS waits for the one before it on the same tile.
template <int R, int W>
TURBINE_AMX inline void block(const Packed* const* as, const Packed* const* bs, int terms, float* c, int64_t ldc,
                              int64_t m, int64_t i, int64_t col, int64_t lo, int64_t hi, bool accumulate) {
  CTile t00(c + i * ldc + col, ldc, std::min(kRows, m - i));
  CTile t01(c + i * ldc + col + 16, ldc, std::min(kRows, m - i));
  CTile t10(c + (i + 16) * ldc + col, ldc, std::max<int64_t>(0, std::min(kRows, m - i - 16)));
  CTile t11(c + (i + 16) * ldc + col + 16, ldc, std::max<int64_t>(0, std::min(kRows, m - i - 16)));
  if (accumulate) {
    t00.copy_in();
    _tile_loadd(0, t00.target(), t00.stride());
    if constexpr (W == 2) {
      t01.copy_in();
      _tile_loadd(1, t01.target(), t01.stride());
    }
    if constexpr (R == 2) {
      t10.copy_in();
      _tile_loadd(2, t10.target(), t10.stride());
    }
    if constexpr (R == 2 && W == 2) {
      t11.copy_in();
      _tile_loadd(3, t11.target(), t11.stride());
    }
  } else {
    _tile_zero(0);
    if constexpr (W == 2) _tile_zero(1);
    if constexpr (R == 2) _tile_zero(2);
    if constexpr (R == 2 && W == 2) _tile_zero(3);
  }
  for (int t = 0; t < terms; t++) {
    const Packed &a = *as[t], &b = *bs[t];
    const int64_t sa = a.ld * 4, sb = b.ld * 4;
    for (int64_t kb = lo; kb < hi; kb++) {
      const uint32_t* ak = a.data.data() + i * a.ld + kb * kPairs;
      const uint32_t* bk = b.data.data() + kb * kPairs * b.ld + col;
      _tile_loadd(4, ak, sa);
      _tile_loadd(6, bk, sb);
      if constexpr (R == 2) _tile_loadd(5, ak + kRows * a.ld, sa);
      if constexpr (W == 2) _tile_loadd(7, bk + kTileLanes, sb);
      _tile_dpbf16ps(0, 4, 6);
      if constexpr (W == 2) _tile_dpbf16ps(1, 4, 7);
      if constexpr (R == 2) _tile_dpbf16ps(2, 5, 6);
      if constexpr (R == 2 && W == 2) _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, t00.target(), t00.stride());
  t00.copy_out();
  if constexpr (W == 2) {
    _tile_stored(1, t01.target(), t01.stride());
    t01.copy_out();
  }
  if constexpr (R == 2) {
    _tile_stored(2, t10.target(), t10.stride());
    t10.copy_out();
  }
  if constexpr (R == 2 && W == 2) {
    _tile_stored(3, t11.target(), t11.stride());
    t11.copy_out();
  }
}

// C[m × n] (+)= Σ_t A_t·B_t over `terms` packed pairs of factors of `blocks` depth blocks each,
// in blocks of up to 2 × 2 tiles.
TURBINE_AMX inline void product(const Packed* const* as, const Packed* const* bs, int terms, float* c, int64_t ldc,
                                int64_t m, int64_t n, int64_t blocks, bool accumulate, Causal causal) {
  static const Config config;
  _tile_loadconfig(&config);
  for (int64_t i = 0; i < m; i += 2 * kRows) {
    const bool two_rows = i + kRows < m;
    const int64_t rows = two_rows ? 2 * kRows : kRows;
    int64_t lo, hi;
    depth_blocks(causal, i, rows, blocks, lo, hi);
    for (int64_t col = 0; col < n; col += 2 * kTileLanes) {
      const bool two_cols = col + kTileLanes < n;
      if (masked_block(causal, i, rows, col, two_cols ? 2 * kTileLanes : kTileLanes)) continue;
      if (two_rows && two_cols) {
        block<2, 2>(as, bs, terms, c, ldc, m, i, col, lo, hi, accumulate);
      } else if (two_rows) {
        block<2, 1>(as, bs, terms, c, ldc, m, i, col, lo, hi, accumulate);
      } else if (two_cols) {
        block<1, 2>(as, bs, terms, c, ldc, m, i, col, lo, hi, accumulate);
      } else {
        block<1, 1>(as, bs, terms, c, ldc, m, i, col, lo, hi, accumulate);
      }
    }
  }
}

}  // namespace amx

// tile_matmul's contract (C = A·B or C += A·B, n a multiple of kTileLanes, A strided, the same
// Causal promises) on AMX with both factors rounded to bfloat16; with same_b the B packed by this
// object's previous call is used again (the caller promises the same B, ldb, k and n).
class AmxTiles {
 public:
  TURBINE_AMX void matmul(TileA a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n, int64_t k,
                          bool accumulate, Causal causal = Causal::kNone, bool same_b = false) {
    if (!same_b) amx::pack_b(b, ldb, k, n, false, b_);
    amx::pack_a(a, m, k, false, a_);
    const amx::Packed *as = &a_, *bs = &b_;
    amx::product(&as, &bs, 1, c, ldc, m, n, a_.ld / amx::kPairs, accumulate, causal);
  }

 private:
  amx::Packed a_, b_;
};

// The same contract with each factor split into two bfloat16 parts (see the top of this file):
// three tile products, about 16 significant bits per factor.
class AmxSplitTiles {
 public:
  TURBINE_AMX void matmul(TileA a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n, int64_t k,
                          bool accumulate, Causal causal = Causal::kNone, bool same_b = false) {
    if (!same_b) {
      amx::pack_b(b, ldb, k, n, false, b_[0]);
      amx::pack_b(b, ldb, k, n, true, b_[1]);
    }
    amx::pack_a(a, m, k, false, a_[0]);
    amx::pack_a(a, m, k, true, a_[1]);
    const amx::Packed* as[3] = {&a_[0], &a_[1], &a_[0]};  // hi·hi + lo·hi + hi·lo
    const amx::Packed* bs[3] = {&b_[0], &b_[0], &b_[1]};
    amx::product(as, bs, 3, c, ldc, m, n, a_[0].ld / amx::kPairs, accumulate, causal);
  }

 private:
  amx::Packed a_[2], b_[2];
};

}  // namespace turbine
