// Rows moved between a mixture of experts' tokens and its slots (src/nn/moe_slots.ts), one
// expert's block of slots per call: the scaled scatter-add that combines gated expert outputs
// into their tokens (and adds dispatch gradients back), and the scaled gather that is its
// backward. Every index is checked before anything is written.
#include <algorithm>

#include "parallel.h"
#include "registry.h"
#include "row_lookup.h"

namespace turbine {
namespace {

// Columns per task of the scatter-add: each task owns its columns of every row, so threads
// never write the same element and a token's slots add up in slot order (deterministic).
constexpr int64_t kColumns = 32;

template <typename T>
void scatter_add_scaled(const RowLookup& m, const T* rows, const float* gates, float* out) {
  const int64_t D = m.cols, blocks = (D + kColumns - 1) / kColumns;
  const int64_t work = std::max<int64_t>(m.count * kColumns, 1);
  parallel_for(blocks, std::max<int64_t>(1, kElementGrain / work), [&](int64_t b, int64_t e) {
    for (int64_t block = b; block < e; block++) {
      const int64_t c0 = block * kColumns, w = std::min(kColumns, D - c0);
      for (int64_t s = 0; s < m.count; s++) {
        float* dst = out + m.indices[s] * D + c0;
        const T* src = rows + s * D + c0;
        const float g = gates != nullptr ? gates[s] : 1.0f;
#pragma omp simd
        for (int64_t j = 0; j < w; j++) dst[j] += g * to_float(src[j]);
      }
    }
  });
}

// rowsScatterAdd(dtype, out, tableRows, cols, indices, rows, gates): out (float32, [tableRows,
// cols]) gets out[indices[s], :] += gates[s] · rows[s, :] for each of rows' [count, cols] (dtype);
// gates null scales by 1. 16-bit rows add up in the float32 table, rounded once by the caller.
Napi::Value RowsScatterAddKernel(const Napi::CallbackInfo& info) {
  Args args(info, "rowsScatterAdd", 7);
  const RowLookup m = read_row_lookup(args, "table");
  float* out = args.tensor(1, "out", DType::F32, m.rows * m.cols).as<float>();
  View rows = args.tensor(5, "rows", m.dtype, m.count * m.cols);
  const float* gates = optional_f32(args, 6, "gates", m.count);
  dispatch_float(m.dtype, [&](auto tag) {
    using T = decltype(tag);
    scatter_add_scaled(m, rows.as<T>(), gates, out);
  });
  return info.Env().Undefined();
}

// rowsGatherScaled(dtype, grad, tableRows, cols, indices, gates, gradRows, rows, gradGates):
// gradRows[s, :] = gates[s] · grad[indices[s], :] (grad [tableRows, cols] and gradRows [count,
// cols] of dtype, gates float32); when rows is given, gradGates[s] = rows[s, :] · grad[indices[s], :].
Napi::Value RowsGatherScaledKernel(const Napi::CallbackInfo& info) {
  Args args(info, "rowsGatherScaled", 9);
  const RowLookup m = read_row_lookup(args, "table");
  View grad = args.tensor(1, "grad", m.dtype, m.rows * m.cols);
  const float* gates = args.tensor(5, "gates", DType::F32, m.count).as<float>();
  View grad_rows = args.tensor(6, "gradRows", m.dtype, m.count * m.cols);
  const bool with_gates = !args.is_null(7);
  View rows = with_gates ? args.tensor(7, "rows", m.dtype, m.count * m.cols) : View{};
  float* grad_gates = with_gates ? args.tensor(8, "gradGates", DType::F32, m.count).as<float>() : nullptr;
  const int64_t D = m.cols;
  dispatch_float(m.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* g = grad.as<T>();
    const T* x = with_gates ? rows.as<T>() : nullptr;
    T* gx = grad_rows.as<T>();
    parallel_for(m.count, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(D, 1)), [&](int64_t b, int64_t e) {
      for (int64_t s = b; s < e; s++) {
        const T* gs = g + m.indices[s] * D;
        T* dst = gx + s * D;
        const float scale = gates[s];
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < D; j++) {
          const float gj = to_float(gs[j]);
          dst[j] = from_float<T>(scale * gj);
          if (x != nullptr) dot += to_float(x[s * D + j]) * gj;
        }
        if (grad_gates != nullptr) grad_gates[s] = dot;
      }
    });
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(rowsScatterAdd, RowsScatterAddKernel);
TURBINE_KERNEL(rowsGatherScaled, RowsGatherScaledKernel);

}  // namespace turbine
