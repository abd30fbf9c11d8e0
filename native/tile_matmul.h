// Products of small f32 tiles that sit in L1, for kernels that fuse work around them (attention):
// C[m×n] (+)= A[m×k]·B[k×n], B and C row-major with n a multiple of kTileLanes, A read through
// a row stride and a column stride so a transposed operand needs no copy. oneDNN is not used
// here: its per-call overhead is larger than a 64×64×64 product, and these tiles never leave
// the cache between the products and the element-wise work on them.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "lanes.h"

namespace turbine {

// A strided read-only view of A: element (r, p) is at data[r·row + p·col].
struct TileA {
  const float* data;
  int64_t row, col;
};

// R rows × W·16 columns of C, whose R·W·16 / kMachineFloats accumulators stay in registers
// across the k loop; each step loads W·16 floats of B and broadcasts R scalars of A.
// Never inlined: inside a large caller (the attention backward) GCC ran short of vector
// registers for the 16 accumulators and spilled B's row to the stack on every step.
template <int R, int W>
[[gnu::noinline]] void tile_block(TileA a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t k,
                                  bool accumulate) {
  constexpr int V = W * kTileLanes / kMachineFloats;
  MachineLanes acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) {
#pragma GCC unroll 16
    for (int v = 0; v < V; v++) {
      acc[r][v] = MachineLanes{};
      if (accumulate) load_machine(acc[r][v], c + r * ldc + v * kMachineFloats);
    }
  }
  for (int64_t p = 0; p < k; p++) {
    MachineLanes bv[V];
#pragma GCC unroll 16
    for (int v = 0; v < V; v++) load_machine_kept(bv[v], b + p * ldb + v * kMachineFloats);
    const float* ap = a.data + p * a.col;
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const float s = ap[r * a.row];
#pragma GCC unroll 16
      for (int v = 0; v < V; v++) acc[r][v] += s * bv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) {
#pragma GCC unroll 16
    for (int v = 0; v < V; v++) store_machine(c + r * ldc + v * kMachineFloats, acc[r][v]);
  }
}

template <int R>
inline void tile_rows(TileA a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t k, int64_t width,
                      bool accumulate) {
  if constexpr (kMachineFloats < kTileLanes) {
    // 16 registers (AVX2): R rows of one 16-column group are 2R accumulators; wider blocks spill.
    for (int64_t j = 0; j < width; j += kTileLanes) tile_block<R, 1>(a, b + j, ldb, c + j, ldc, k, accumulate);
    return;
  }
  switch (width / kTileLanes) {
    case 1:
      tile_block<R, 1>(a, b, ldb, c, ldc, k, accumulate);
      break;
    case 2:
      tile_block<R, 2>(a, b, ldb, c, ldc, k, accumulate);
      break;
    case 3:
      tile_block<R, 3>(a, b, ldb, c, ldc, k, accumulate);
      break;
    default:
      tile_block<R, 4>(a, b, ldb, c, ldc, k, accumulate);
      break;
  }
}

// The part of a product a causal attention tile needs when it sits on the diagonal (row r of
// the tile is token r of both factors): the entries of C with column ≥ row (kColumnsFromRow) or
// ≤ row (kColumnsToRow), whose others the caller masks, or the terms of A with column ≥ row
// (kDepthFromRow) or ≤ row (kDepthToRow), whose others are zero. Skipping them saves nearly
// half of a diagonal tile's multiply-adds; columns are skipped in whole vectors only.
enum class Causal { kNone, kColumnsFromRow, kColumnsToRow, kDepthFromRow, kDepthToRow };

// The register blocks of a tile product C[m×n] (+)= A[m×k]·B[k×n], in order: block(i, rows, c_lo,
// c_hi, p_lo, p_hi) computes rows i..i+rows of C, columns [c_lo, c_hi), from depth terms
// [p_lo, p_hi). Rows come in fours, columns in panels of up to 64 so one panel of B (k × 64)
// stays in L1 across the rows; `causal` narrows the ranges (see Causal) and skips empty blocks.
template <typename Block>
inline void for_each_tile_block(int64_t m, int64_t n, int64_t k, Causal causal, Block&& block) {
  constexpr int64_t kPanel = 4 * kTileLanes;
  for (int64_t j = 0; j < n; j += kPanel) {
    for (int64_t i = 0, rows; i < m; i += rows) {
      rows = m - i >= 4 ? 4 : 1;
      int64_t c_lo = j, c_hi = std::min(j + kPanel, n), p_lo = 0, p_hi = k;
      switch (causal) {
        case Causal::kNone:
          break;
        case Causal::kColumnsFromRow:
          c_lo = std::max(c_lo, i / kTileLanes * kTileLanes);
          break;
        case Causal::kColumnsToRow:
          c_hi = std::min(c_hi, round_to_lanes(i + rows));
          break;
        case Causal::kDepthFromRow:
          p_lo = std::min(i, k);
          break;
        case Causal::kDepthToRow:
          p_hi = std::min(k, i + rows);
          break;
      }
      if (c_lo < c_hi) block(i, rows, c_lo, c_hi, p_lo, p_hi);
    }
  }
}

// C = A·B, or C += A·B when accumulate. n must be a multiple of kTileLanes.
inline void tile_matmul(TileA a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n, int64_t k,
                        bool accumulate, Causal causal = Causal::kNone) {
  for_each_tile_block(m, n, k, causal,
                      [&](int64_t i, int64_t rows, int64_t c_lo, int64_t c_hi, int64_t p_lo, int64_t p_hi) {
                        const TileA ai{a.data + i * a.row + p_lo * a.col, a.row, a.col};
                        const float* bi = b + p_lo * ldb + c_lo;
                        float* ci = c + i * ldc + c_lo;
                        if (rows == 4)
                          tile_rows<4>(ai, bi, ldb, ci, ldc, p_hi - p_lo, c_hi - c_lo, accumulate);
                        else
                          tile_rows<1>(ai, bi, ldb, ci, ldc, p_hi - p_lo, c_hi - c_lo, accumulate);
                      });
}

// f32 scratch aligned to 64 bytes, so rows whose stride is a multiple of kTileLanes start on a
// cache line and vector loads never straddle two.
class AlignedFloats {
 public:
  explicit AlignedFloats(int64_t n) : raw_(static_cast<size_t>(n) + kTileLanes) {
    const auto address = reinterpret_cast<uintptr_t>(raw_.data());
    data_ = raw_.data() + (64 - address % 64) % 64 / sizeof(float);
  }
  float* data() { return data_; }
  const float* data() const { return data_; }

 private:
  std::vector<float> raw_;
  float* data_;
};

}  // namespace turbine
