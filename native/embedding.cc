// Embedding lookup: rows of a weight [V, D] gathered by int32 indices, and the backward
// scatter-add into a [V, D] gradient. Every index is checked before anything is written.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "parallel.h"
#include "registry.h"
#include "row_lookup.h"

namespace turbine {
namespace {

// embedding(dtype, weight, rows, cols, indices, out): out[i, :] = weight[indices[i], :]
Napi::Value EmbeddingKernel(const Napi::CallbackInfo& info) {
  Args args(info, "embedding", 6);
  const RowLookup l = read_row_lookup(args, "weight");
  View weight = args.tensor(1, "weight", l.dtype, l.rows * l.cols);
  View out = args.tensor(5, "out", l.dtype, l.count * l.cols);
  const size_t row_bytes = static_cast<size_t>(l.cols) * dtype_size(l.dtype);
  const char* src = static_cast<const char*>(weight.data);
  char* dst = static_cast<char*>(out.data);
  parallel_for(l.count, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(l.cols, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) std::memcpy(dst + i * row_bytes, src + l.indices[i] * row_bytes, row_bytes);
  });
  return info.Env().Undefined();
}

// Columns per task of the backward. Each task owns its columns of every row, so threads never
// write the same element and repeated indices accumulate in index order (deterministic).
constexpr int64_t kColumns = 32;

// 16-bit gradients accumulate in a float32 block and are rounded once at the end.
template <typename T>
void scatter_add(const RowLookup& l, const T* grad, T* gw) {
  const int64_t V = l.rows, D = l.cols, blocks = (D + kColumns - 1) / kColumns;
  const int64_t work = std::max<int64_t>(l.count * kColumns + V * kColumns, 1);
  parallel_for(blocks, std::max<int64_t>(1, kElementGrain / work), [&](int64_t b, int64_t e) {
    std::vector<float> acc;
    for (int64_t block = b; block < e; block++) {
      const int64_t c0 = block * kColumns, w = std::min(kColumns, D - c0);
      float* sum;
      int64_t ld;
      if constexpr (std::is_same_v<T, float>) {
        sum = gw + c0;
        ld = D;
        for (int64_t v = 0; v < V; v++) std::fill(sum + v * ld, sum + v * ld + w, 0.0f);
      } else {
        acc.assign(static_cast<size_t>(V * w), 0.0f);
        sum = acc.data();
        ld = w;
      }
      for (int64_t i = 0; i < l.count; i++) {
        float* row = sum + l.indices[i] * ld;
        const T* g = grad + i * D + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; j++) row[j] += to_float(g[j]);
      }
      if constexpr (!std::is_same_v<T, float>) {
        for (int64_t v = 0; v < V; v++)
          for (int64_t j = 0; j < w; j++) gw[v * D + c0 + j] = from_float<T>(sum[v * w + j]);
      }
    }
  });
}

// embeddingBackward(dtype, gradWeight, rows, cols, indices, grad): gradWeight = 0, then
// gradWeight[indices[i], :] += grad[i, :]
Napi::Value EmbeddingBackwardKernel(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingBackward", 6);
  const RowLookup l = read_row_lookup(args, "weight");
  View gw = args.tensor(1, "gradWeight", l.dtype, l.rows * l.cols);
  View grad = args.tensor(5, "grad", l.dtype, l.count * l.cols);
  dispatch_float(l.dtype, [&](auto tag) {
    using T = decltype(tag);
    scatter_add(l, grad.as<T>(), gw.as<T>());
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(embedding, EmbeddingKernel);
TURBINE_KERNEL(embeddingBackward, EmbeddingBackwardKernel);

}  // namespace turbine
