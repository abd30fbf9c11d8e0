// The backward pass of the fused Linear + bias + GELU (native/matmul.cc's matmulGelu) before
// its two products: the pre-activation's gradient g·GELU'(z) and the bias gradient (its column
// sums) in one pass over the output gradient, instead of a GELU backward pass and a reduction
// that reads the result again.
#include <algorithm>
#include <vector>

#include "args.h"
#include "extents.h"
#include "gelu.h"
#include "parallel.h"
#include "registry.h"

namespace turbine {
namespace {

// dz = g·GELU'(z) in T; dbias (when not null) = Σ_rows dz as stored. Rows are cut into one
// chunk per thread, each summing into double partials (in float over blocks of kBlock rows)
// added in chunk order afterwards, as LayerNorm's dweight: no races, no dependence on scheduling.
template <typename T>
void gelu_bias_backward(const T* g, const T* z, T* dz, float* dbias, int64_t rows, int64_t cols, int threads) {
  const int64_t grain = std::max<int64_t>(1, kElementGrain / std::max<int64_t>(cols, 1));
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threads, (rows + grain - 1) / grain));
  std::vector<double> part(dbias ? chunks * cols : 0);
  parallel_for(chunks, 1, [&](int64_t first, int64_t last) {
    constexpr int64_t kBlock = 32;
    std::vector<float> acc(dbias ? cols : 0);
    for (int64_t chunk = first; chunk < last; chunk++) {
      const int64_t begin = rows * chunk / chunks, end = rows * (chunk + 1) / chunks;
      for (int64_t row = begin; row < end; row++) {
        const T* gr = g + row * cols;
        const T* zr = z + row * cols;
        T* dr = dz + row * cols;
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) dr[j] = from_float<T>(to_float(gr[j]) * gelu_erf_grad(to_float(zr[j])));
        if (!dbias) continue;
        float* __restrict a = acc.data();
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) a[j] += to_float(dr[j]);
        if ((row - begin) % kBlock == kBlock - 1 || row == end - 1) {
          double* p = part.data() + chunk * cols;
#pragma omp simd
          for (int64_t j = 0; j < cols; j++) {
            p[j] += a[j];
            a[j] = 0;
          }
        }
      }
    }
  });
  if (!dbias) return;
  for (int64_t j = 0; j < cols; j++) {
    double s = 0;
    for (int64_t c = 0; c < chunks; c++) s += part[c * cols + j];
    dbias[j] = static_cast<float>(s);
  }
}

// geluBiasBackward(dtype, grad, preActivation, dPreActivation, dbias|null, rows, cols)
Napi::Value GeluBiasBackwardKernel(const Napi::CallbackInfo& info) {
  Args args(info, "geluBiasBackward", 7);
  const DType dt = args.float_dtype(0, "dtype");
  const int64_t rows = args.integer(5, "rows"), cols = args.integer(6, "cols");
  const int64_t numel = checked_numel(args, {rows, cols});
  View g = args.tensor(1, "grad", dt, numel);
  View z = args.tensor(2, "preActivation", dt, numel);
  View dz = args.tensor(3, "dPreActivation", dt, numel);
  float* dbias = optional_f32(args, 4, "dbias", cols);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    gelu_bias_backward(g.as<T>(), z.as<T>(), dz.as<T>(), dbias, rows, cols, omp_get_max_threads());
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(geluBiasBackward, GeluBiasBackwardKernel);

}  // namespace turbine
