// Fused cross-entropy over logits [n, c] (f32, bf16 or f16, computed in f32) and int32 class
// targets [n]. One pass per row computes log Σ e^x, the row's loss with PyTorch's label
// smoothing, loss = (1 − ε)·nll + ε·mean_j(−log p_j), and optionally the row's gradient for a
// unit upstream gradient, p − ((1 − ε)·onehot + ε/c), so backward is one multiply. Rows whose
// target is ignoreIndex get loss 0 and gradient 0. Every target is checked before any output
// is written.
#include <cmath>
#include <cstring>
#include <vector>

#include "args.h"
#include "extents.h"
#include "parallel.h"
#include "registry.h"
#include "row_softmax.h"

namespace turbine {
namespace {

template <typename T>
void cross_entropy(const T* logits, const int32_t* targets, float* losses, T* grad, int64_t n, int64_t c,
                   int64_t ignore, float smoothing) {
  parallel_for(n, softmax_grain(c), [&](int64_t begin, int64_t end) {
    std::vector<float> buffer = f32_row_buffer<T>(grad ? c : 0);
    for (int64_t row = begin; row < end; row++) {
      const T* xr = logits + row * c;
      T* gr = grad ? grad + row * c : nullptr;
      const int64_t t = targets[row];
      if (t == ignore) {
        losses[row] = 0;
        if (gr) std::memset(static_cast<void*>(gr), 0, static_cast<size_t>(c) * sizeof(T));  // all-zero bits are +0
        continue;
      }
      const float m = row_max(xr, c);
      float* e = gr ? f32_row(gr, buffer) : nullptr;
      const double s = row_exp_sum(xr, c, m, e);
      const double log_s = std::log(s);
      double loss = (static_cast<double>(m) - to_float(xr[t])) + log_s;
      if (smoothing > 0) {
        double sum_x = 0;
#pragma omp simd reduction(+ : sum_x)
        for (int64_t j = 0; j < c; j++) sum_x += to_float(xr[j]);
        const double smooth = (static_cast<double>(m) - sum_x / static_cast<double>(c)) + log_s;
        loss = (1.0 - smoothing) * loss + smoothing * smooth;
      }
      losses[row] = static_cast<float>(loss);
      if (!gr) continue;
      const float inv = static_cast<float>(1.0 / s);
      const float floor = smoothing / static_cast<float>(c);
      // At the target p − 1 cancels when the model is confident; 1 − p = (s − e_t) / s keeps it
      // exact to rounding. Read e_t before the loop: e may be gr itself.
      const double rest = s - e[t];
#pragma omp simd
      for (int64_t j = 0; j < c; j++) gr[j] = from_float<T>(e[j] * inv - floor);
      gr[t] = from_float<T>(static_cast<float>(smoothing * (1.0 - 1.0 / static_cast<double>(c)) - rest / s));
    }
  });
}

// crossEntropy(dtype, logits, targets, losses, grad|null, n, c, ignoreIndex, smoothing):
// losses [n] f32; grad [n, c] in the logits' dtype, written when not null.
Napi::Value CrossEntropyKernel(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropy", 9);
  DType dt = args.float_dtype(0, "dtype");
  const int64_t n = args.integer(5, "n"), c = args.integer(6, "c");
  const int64_t numel = checked_numel(args, {n, c});
  const int64_t ignore = args.integer(7, "ignoreIndex");
  const double smoothing = args.number(8, "smoothing");
  args.require(smoothing >= 0 && smoothing <= 1, "label smoothing must be in [0, 1], got %g", smoothing);
  View logits = args.tensor(1, "logits", dt, numel);
  const int32_t* targets = args.tensor(2, "targets", DType::I32, n).as<int32_t>();
  float* losses = args.tensor(3, "losses", DType::F32, n).as<float>();
  void* grad = args.is_null(4) ? nullptr : args.tensor(4, "grad", dt, numel).data;
  for (int64_t row = 0; row < n; row++) {
    const int64_t t = targets[row];
    args.require(t == ignore || (t >= 0 && t < c),
                 "target %lld of row %lld is outside [0, %lld) and is not ignoreIndex %lld", static_cast<long long>(t),
                 static_cast<long long>(row), static_cast<long long>(c), static_cast<long long>(ignore));
  }
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    cross_entropy(logits.as<T>(), targets, losses, static_cast<T*>(grad), n, c, ignore, static_cast<float>(smoothing));
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(crossEntropy, CrossEntropyKernel);

}  // namespace turbine
