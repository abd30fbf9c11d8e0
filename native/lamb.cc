// LAMB's step (You et al.) over every parameter in one call: Adam's bias-corrected direction
// plus weightDecay·w, scaled per parameter by the trust ratio ‖w‖ / ‖direction‖. The ratio
// needs each parameter's whole norms before any element moves, so the step is two passes over
// the same pieces: the first advances the moments and sums w² and u² (per piece, in double,
// added in piece order: the same bits for any thread count), the second recomputes u from the
// stored moments and moves w. Every value is computed in double from the f32 values and
// rounded once when stored, as the TypeScript reference (src/backends/js/optimizer_steps.ts).
#include <cmath>
#include <vector>

#include "args.h"
#include "multi_tensor.h"
#include "registry.h"

namespace turbine {
namespace {

// One parameter's arrays and its hyper row [lr, beta1, beta2, eps, weightDecay, step].
struct LambParam {
  float* w;
  const float* g;
  float* m;
  float* v;
  const double* hyper;
};

// Without contraction: a fused multiply-add would round differently from the reference.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

// The direction u_i from the stored moments (rounded to f32 as the reference stores it).
inline double direction(double m, double v, double w, double correct1, double correct2, double eps, double wd) {
  return static_cast<float>(m / correct1 / (std::sqrt(v / correct2) + eps) + wd * w);
}

// Advances the moments of [begin, end) and adds Σ w² and Σ u² into norms[0], norms[1].
void first_pass(const LambParam& p, int64_t begin, int64_t end, double* norms) {
  const double* h = p.hyper;
  const double beta1 = h[1], beta2 = h[2], eps = h[3], wd = h[4];
  const double correct1 = 1 - std::pow(beta1, h[5]), correct2 = 1 - std::pow(beta2, h[5]);
  double ww = 0, uu = 0;
#pragma omp simd reduction(+ : ww, uu)
  for (int64_t i = begin; i < end; i++) {
    const double g = p.g[i];
    const float m = static_cast<float>(beta1 * p.m[i] + (1 - beta1) * g);
    const float v = static_cast<float>(beta2 * p.v[i] + (1 - beta2) * g * g);
    p.m[i] = m;
    p.v[i] = v;
    const double u = direction(m, v, p.w[i], correct1, correct2, eps, wd);
    ww += static_cast<double>(p.w[i]) * p.w[i];
    uu += u * u;
  }
  norms[0] = ww;
  norms[1] = uu;
}

// w ← w − lr·trust·u over [begin, end).
void second_pass(const LambParam& p, int64_t begin, int64_t end, double trust) {
  const double* h = p.hyper;
  const double eps = h[3], wd = h[4], alpha = -h[0] * trust;
  const double correct1 = 1 - std::pow(h[1], h[5]), correct2 = 1 - std::pow(h[2], h[5]);
#pragma omp simd
  for (int64_t i = begin; i < end; i++) {
    const double u = direction(p.m[i], p.v[i], p.w[i], correct1, correct2, eps, wd);
    p.w[i] = static_cast<float>(p.w[i] + alpha * u);
  }
}

#pragma GCC pop_options

// lambStepMulti(params, grads, expAvgs, expAvgSqs, hyper) with one row [lr, beta1, beta2, eps,
// weightDecay, step] per parameter. Every array is checked before any is written.
Napi::Value LambStepMulti(const Napi::CallbackInfo& info) {
  Args args(info, "lambStepMulti", 5);
  const uint32_t count = args.list_length(0, "params");
  require_same_lengths(args, count, {{1, "grads"}, {2, "expAvgs"}, {3, "expAvgSqs"}});
  const double* h = args.doubles(4, "hyper", 6 * static_cast<size_t>(count));
  std::vector<LambParam> params(count);
  std::vector<int64_t> sizes(count);
  for (uint32_t k = 0; k < count; k++) {
    View w = args.list_tensor_any(0, k, "params", DType::F32);
    const int64_t n = sizes[k] = static_cast<int64_t>(w.bytes / 4);
    const double* row = h + 6 * static_cast<size_t>(k);
    args.require(row[5] >= 1, "step must be at least 1, got %g", row[5]);
    params[k] = {w.as<float>(), args.list_tensor(1, k, "grads", DType::F32, n).as<float>(),
                 args.list_tensor(2, k, "expAvgs", DType::F32, n).as<float>(),
                 args.list_tensor(3, k, "expAvgSqs", DType::F32, n).as<float>(), row};
  }
  const std::vector<Piece> pieces = cut_pieces(sizes);
  std::vector<double> norms(2 * pieces.size(), 0.0);
  run_each_piece(
      pieces, [&](int64_t i) { first_pass(params[pieces[i].param], pieces[i].begin, pieces[i].end, &norms[2 * i]); });
  std::vector<double> ww(count, 0.0), uu(count, 0.0), trust(count, 1.0);
  for (size_t i = 0; i < pieces.size(); i++) {
    ww[pieces[i].param] += norms[2 * i];
    uu[pieces[i].param] += norms[2 * i + 1];
  }
  for (uint32_t k = 0; k < count; k++) {
    if (ww[k] > 0 && uu[k] > 0) trust[k] = std::sqrt(ww[k]) / std::sqrt(uu[k]);
  }
  run_each_piece(pieces, [&](int64_t i) {
    second_pass(params[pieces[i].param], pieces[i].begin, pieces[i].end, trust[pieces[i].param]);
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(lambStepMulti, LambStepMulti);

}  // namespace turbine
