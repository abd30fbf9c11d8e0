// The row loops of layer normalisation, shared by layerNorm (native/layernorm.cc) and the fused
// residual add + LayerNorm (native/add_layernorm.cc): forward over rows from a row source,
// backward with a callback that stores each input-gradient element. Statistics accumulate in
// double, the variance in a second pass over the row (no cancellation from E[x²] − E[x]²); the
// mean is kept as an f32 pair (hi, lo), so a row whose mean is large against its spread keeps
// x − mean's leading digits.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "bf16_run.h"
#include "dtype.h"
#include "f32_pair.h"
#include "parallel.h"

namespace turbine {

// Forward reads each row three times and backward four, so a thread team pays for itself at a
// quarter of the element-wise grain.
inline int64_t rows_grain(int64_t cols) { return std::max<int64_t>(1, kElementGrain / 4 / std::max<int64_t>(cols, 1)); }

// Stores a row computed in f32 as Y: bf16 through the vectorised rounding (bf16_run.h).
template <typename Y>
void store_row(const float* row, Y* out, int64_t cols) {
  if constexpr (std::is_same_v<Y, bf16>) {
    f32_to_bf16_run(row, out, 0, cols);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < cols; j++) out[j] = from_float<Y>(row[j]);
  }
}

// Rows of T in, y in Y: float32 rows may give a bfloat16 y for a low-precision matmul to read,
// with the rounding the cast after it would do. row_in(row) gives the row's cols inputs: x's own
// row, or (add + LayerNorm) the residual sum it has just written.
template <typename T, typename Y, typename RowIn>
void layer_norm_forward(RowIn row_in, const float* weight, const float* bias, Y* y, float* mean, float* rstd,
                        int64_t rows, int64_t cols, double eps) {
  parallel_for(rows, rows_grain(cols), [&](int64_t begin, int64_t end) {
    std::vector<float> row_out(std::is_same_v<Y, float> ? 0 : cols);
    for (int64_t row = begin; row < end; row++) {
      const T* xr = row_in(row);
      float* yr = std::is_same_v<Y, float> ? reinterpret_cast<float*>(y + row * cols) : row_out.data();
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < cols; j++) s += to_float(xr[j]);
      const double mu = s / static_cast<double>(cols);
      double v = 0;
#pragma omp simd reduction(+ : v)
      for (int64_t j = 0; j < cols; j++) {
        const double d = to_float(xr[j]) - mu;
        v += d * d;
      }
      const F32Pair m = split_double(mu);
      const float r = static_cast<float>(1.0 / std::sqrt(v / static_cast<double>(cols) + eps));
      mean[2 * row] = m.hi;
      mean[2 * row + 1] = m.lo;
      rstd[row] = r;
      if (weight && bias) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = ((to_float(xr[j]) - m.hi) - m.lo) * r * weight[j] + bias[j];
      } else if (weight) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = ((to_float(xr[j]) - m.hi) - m.lo) * r * weight[j];
      } else if (bias) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = ((to_float(xr[j]) - m.hi) - m.lo) * r + bias[j];
      } else {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = ((to_float(xr[j]) - m.hi) - m.lo) * r;
      }
      if constexpr (!std::is_same_v<Y, float>) store_row(yr, y + row * cols, cols);
    }
  });
}

// With x̂ = (x − mean)·rstd and ĝ = g·weight (or g):
//   dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),  dweight = Σ_rows g·x̂,  dbias = Σ_rows g.
// Rows are cut into one chunk per thread; each chunk sums dweight and dbias into its own
// double partials, and the partials are added in chunk order afterwards, so the result has no
// races and does not depend on scheduling.
// g in G (the output's dtype), x in T; with want_dx, store_dx(row, values) receives row `row` of
// dx in f32, cols values (layerNorm rounds them into dx, add + LayerNorm adds the residual's
// gradient). The row is complete and in memory before the callback runs, so its additions are
// separate roundings: inlined into this loop, GCC would contract r·(…) + residual into one FMA
// and the fused op would differ from layerNorm followed by add in the last bit.
template <typename T, typename G, typename StoreDx>
void layer_norm_backward(const G* g, const T* x, const float* weight, const float* mean, const float* rstd,
                         bool want_dx, StoreDx store_dx, float* dweight, float* dbias, int64_t rows, int64_t cols,
                         int threads) {
  const int64_t chunks =
      std::max<int64_t>(1, std::min<int64_t>(threads, (rows + rows_grain(cols) - 1) / rows_grain(cols)));
  const bool partials = dweight || dbias;
  std::vector<double> dw_part(partials ? chunks * cols : 0), db_part(partials ? chunks * cols : 0);
  parallel_for(chunks, 1, [&](int64_t first, int64_t last) {
    // dweight/dbias terms are summed in float over blocks of kBlock rows, each block then
    // added to the chunk's double partials: float keeps the row loop at full vector width,
    // and no float sum runs long enough to lose accuracy.
    constexpr int64_t kBlock = 32;
    std::vector<float> gh(want_dx ? cols : 0), xh(cols), dx(want_dx ? cols : 0), fw(partials ? cols : 0),
        fb(partials ? cols : 0);
    for (int64_t chunk = first; chunk < last; chunk++) {
      double* dw = partials ? dw_part.data() + chunk * cols : nullptr;
      double* db = partials ? db_part.data() + chunk * cols : nullptr;
      const int64_t begin = rows * chunk / chunks, end = rows * (chunk + 1) / chunks;
      for (int64_t row = begin; row < end; row++) {
        const G* gr = g + row * cols;
        const T* xr = x + row * cols;
        const float hi = mean[2 * row], lo = mean[2 * row + 1], r = rstd[row];
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) xh[j] = ((to_float(xr[j]) - hi) - lo) * r;
        if (partials) {
          float* __restrict w = fw.data();
          float* __restrict b = fb.data();
#pragma omp simd
          for (int64_t j = 0; j < cols; j++) {
            const float gj = to_float(gr[j]);
            w[j] += gj * xh[j];
            b[j] += gj;
          }
          if ((row - begin) % kBlock == kBlock - 1 || row == end - 1) {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
              dw[j] += w[j];
              db[j] += b[j];
              w[j] = 0;
              b[j] = 0;
            }
          }
        }
        if (!want_dx) continue;
        if (weight) {
#pragma omp simd
          for (int64_t j = 0; j < cols; j++) gh[j] = to_float(gr[j]) * weight[j];
        } else {
#pragma omp simd
          for (int64_t j = 0; j < cols; j++) gh[j] = to_float(gr[j]);
        }
        float sum_g = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
        for (int64_t j = 0; j < cols; j++) {
          sum_g += gh[j];
          sum_gx += gh[j] * xh[j];
        }
        const float mean_g = sum_g / static_cast<float>(cols);
        const float mean_gx = sum_gx / static_cast<float>(cols);
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) dx[j] = r * (gh[j] - mean_g - xh[j] * mean_gx);
        store_dx(row, static_cast<const float*>(dx.data()));
      }
    }
  });
  if (!partials) return;
  for (int64_t j = 0; j < cols; j++) {
    double w = 0, b = 0;
    for (int64_t c = 0; c < chunks; c++) {
      w += dw_part[c * cols + j];
      b += db_part[c * cols + j];
    }
    if (dweight) dweight[j] = static_cast<float>(w);
    if (dbias) dbias[j] = static_cast<float>(b);
  }
}

}  // namespace turbine
