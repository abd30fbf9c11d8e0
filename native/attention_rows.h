// Moving an attention head's rows between its strided operands and the f32 tiles the products
// read (native/attention.cc): converted to f32 and scaled on the way in, transposed where a
// product wants a factor's columns, and prefetched ahead of use.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "dtype.h"
#include "lanes.h"

namespace turbine {

// n elements of src as f32 times factor into dst. Whole vectors go through registers: as a plain
// loop, the f32 copy (factor 1, inlined) became `rep movsl`, whose start-up cost on a row of 16
// or 64 floats took a third of the backward's time. The empty asm keeps each vector in a
// register: without it GCC still saw a copy in the loop on AVX2 (Zen 3) and emitted the same
// `rep movsl`, 11% of the f32 backward there.
template <typename T>
inline void convert_row(const T* src, int64_t n, float* dst, float factor) {
  int64_t c = 0;
  if constexpr (std::is_same_v<T, float>) {
    for (; c + kMachineFloats <= n; c += kMachineFloats) {
      MachineLanes x;
      load_machine(x, src + c);
      x *= factor;
      keep_in_register(x);
      store_machine(dst + c, x);
    }
  }
#pragma omp simd
  for (int64_t i = c; i < n; i++) dst[i] = to_float(src[i]) * factor;
}

// Asks the cache for rows × d elements (row stride stride) ahead of their use: a head's rows lie
// one per qkv row (3C apart), and the tiles' loads stalled on them.
template <typename T>
inline void prefetch_rows(const T* src, int64_t stride, int64_t rows, int64_t d) {
  const int64_t bytes = d * static_cast<int64_t>(sizeof(T));
  for (int64_t r = 0; r < rows; r++) {
    const char* row = reinterpret_cast<const char*>(src + r * stride);
    for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b);
  }
}

// rows × d of src (row stride stride) into dst (row stride ld ≥ d) as f32 times factor, columns
// d..ld zeroed.
template <typename T>
void load_rows(const T* src, int64_t stride, int64_t rows, int64_t d, float* dst, int64_t ld, float factor = 1.0f) {
  for (int64_t r = 0; r < rows; r++) {
    convert_row(src + r * stride, d, dst + r * ld, factor);
    std::fill(dst + r * ld + d, dst + (r + 1) * ld, 0.0f);
  }
}

#if defined(__AVX512F__)
// Swaps the off-diagonal H × H blocks of each 2H × 2H block of a 16 × 16 matrix held as 16
// rows of Lanes: row r (bit H of r clear) takes row r + H's columns c − H where bit H of c is
// set, and gives it its own columns c + H where it is clear. Done for H = 8, 4, 2, 1 (any
// order), that exchanges the row and column bits of every element: the transpose.
template <int H>
inline void swap_blocks(Lanes (&m)[kTileLanes]) {
  using Indices = int32_t __attribute__((vector_size(64)));
  Indices low{}, high{};  // into the 32 lanes of (row r, row r + H)
  for (int c = 0; c < kTileLanes; c++) {
    low[c] = c & H ? kTileLanes + c - H : c;
    high[c] = c & H ? kTileLanes + c : c + H;
  }
#pragma GCC unroll 16
  for (int r = 0; r < kTileLanes; r++) {
    if (r & H) continue;
    const Lanes a = m[r], b = m[r + H];
    m[r] = __builtin_shuffle(a, b, low);
    m[r + H] = __builtin_shuffle(a, b, high);
  }
}

// A whole 16 × 16 block of the transpose in registers: 16 row loads, 64 two-register shuffles
// and 16 stores, where the element-by-element path below takes 256 scalar stores.
template <typename T>
inline void transpose_block(const T* src, int64_t stride, float* dst, int64_t ld, float factor) {
  Lanes m[kTileLanes];
#pragma GCC unroll 16
  for (int r = 0; r < kTileLanes; r++) {
    alignas(64) float row[kTileLanes];
    convert_row(src + r * stride, kTileLanes, row, factor);
    load_lanes(m[r], row);
  }
  swap_blocks<8>(m);
  swap_blocks<4>(m);
  swap_blocks<2>(m);
  swap_blocks<1>(m);
#pragma GCC unroll 16
  for (int c = 0; c < kTileLanes; c++) std::memcpy(dst + c * ld, &m[c], sizeof(Lanes));
}
#endif

// The transpose of rows × d of src (row stride stride) into dst [d × ld] (ld ≥ rows) as f32 times
// factor, columns rows..ld zeroed. In 16 × 16 blocks, each read along its rows (converting whole
// vectors) and written along dst's: a column walk down src converted one element per row.
template <typename T>
void load_transposed(const T* src, int64_t stride, int64_t rows, int64_t d, float* dst, int64_t ld,
                     float factor = 1.0f) {
  constexpr int64_t kBlock = 16;
  alignas(64) float block[kBlock][kBlock];
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t nr = std::min(kBlock, rows - r0);
    for (int64_t c0 = 0; c0 < d; c0 += kBlock) {
      const int64_t nc = std::min(kBlock, d - c0);
#if defined(__AVX512F__)
      if (nr == kBlock && nc == kBlock) {
        transpose_block(src + r0 * stride + c0, stride, dst + c0 * ld + r0, ld, factor);
        continue;
      }
#endif
      for (int64_t r = 0; r < nr; r++) {
        convert_row(src + (r0 + r) * stride + c0, nc, block[r], factor);
      }
      for (int64_t c = 0; c < nc; c++) {
        float* out = dst + (c0 + c) * ld + r0;
#pragma omp simd
        for (int64_t r = 0; r < nr; r++) out[r] = block[r][c];
      }
    }
  }
  for (int64_t c = 0; c < d; c++) std::fill(dst + c * ld + rows, dst + (c + 1) * ld, 0.0f);
}

// Rows of an operand as the f32 tile products read them: where they start and their stride.
struct F32Rows {
  const float* data;
  int64_t ld;
};

// rows × d of src (row stride stride) for a product that reads `width` ≥ d columns of each row:
// src itself when it is f32 and needs no zero columns (width = d), else its rows converted into
// dst (row stride ld) by load_rows. Reading in place skips a copy of each block per tile.
template <typename T>
F32Rows f32_rows(const T* src, int64_t stride, int64_t rows, int64_t d, int64_t width, float* dst, int64_t ld) {
  if constexpr (std::is_same_v<T, float>) {
    if (width == d) return {src, stride};
  }
  load_rows(src, stride, rows, d, dst, ld);
  return {dst, ld};
}

// rows × d of an f32 tile (row stride ld) into dst (row stride stride), times factor, or times
// row_factor[r] when not null.
template <typename T>
void store_rows(const float* src, int64_t ld, int64_t rows, int64_t d, T* dst, int64_t stride, float factor,
                const float* row_factor = nullptr) {
  for (int64_t r = 0; r < rows; r++) {
    const float f = row_factor ? row_factor[r] : factor;
#pragma omp simd
    for (int64_t c = 0; c < d; c++) dst[r * stride + c] = from_float<T>(src[r * ld + c] * f);
  }
}

}  // namespace turbine
