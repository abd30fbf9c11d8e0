// Reductions over the middle axis of a tensor viewed as [outer, r, inner]: TypeScript views any
// run of adjacent axes that way. Sums accumulate in double so long reductions stay exact to
// float32 rounding; max and min propagate NaN like PyTorch.
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "args.h"
#include "parallel.h"
#include "registry.h"

namespace turbine {
namespace {

enum class Reduce : int { sum = 0, mean = 1, max = 2, min = 3, count };

template <typename T, typename O>
void reduce_rows(Reduce op, const T* x, O* out, int64_t outer, int64_t r, int64_t inner) {
  // inner == 1: each output is a contiguous run; otherwise accumulate rows of `inner` lanes.
  const double scale = op == Reduce::mean ? 1.0 / static_cast<double>(r) : 1.0;
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(r, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; o++) {
        const T* row = x + o * r;
        if (op == Reduce::sum || op == Reduce::mean) {
          double acc = 0;
#pragma omp simd reduction(+ : acc)
          for (int64_t i = 0; i < r; i++) acc += to_float(row[i]);
          out[o] = from_float<O>(static_cast<float>(acc * scale));
        } else {
          float best =
              op == Reduce::max ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
          bool nan = false;
          for (int64_t i = 0; i < r; i++) {
            float v = to_float(row[i]);
            nan |= std::isnan(v);
            best = op == Reduce::max ? std::max(best, v) : std::min(best, v);
          }
          out[o] = from_float<O>(nan ? std::numeric_limits<float>::quiet_NaN() : best);
        }
      }
    });
    return;
  }
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int threads = omp_get_max_threads();
  if ((op == Reduce::sum || op == Reduce::mean) && outer * blocks < threads && r >= 256) {
    // Too few column tasks to occupy the threads (a bias gradient: outer 1, one or two blocks):
    // the rows are split too, each part summed into its own double partial, and the partials
    // added in a fixed order, so the result does not depend on scheduling.
    const int64_t parts = threads;
    std::vector<double> partial(static_cast<size_t>(parts * outer * inner), 0.0);
    parallel_for(parts * outer, 1, [&](int64_t b, int64_t e) {
      for (int64_t task = b; task < e; task++) {
        const int64_t part = task / outer, o = task % outer;
        double* acc = partial.data() + (part * outer + o) * inner;
        for (int64_t i = r * part / parts; i < r * (part + 1) / parts; i++) {
          const T* row = x + (o * r + i) * inner;
#pragma omp simd
          for (int64_t j = 0; j < inner; j++) acc[j] += to_float(row[j]);
        }
      }
    });
    for (int64_t o = 0; o < outer; o++) {
      for (int64_t j = 0; j < inner; j++) {
        double total = 0;
        for (int64_t part = 0; part < parts; part++) total += partial[(part * outer + o) * inner + j];
        out[o * inner + j] = from_float<O>(static_cast<float>(total * scale));
      }
    }
    return;
  }
  parallel_for(outer * blocks, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(r * kBlock, 1)),
               [&](int64_t b, int64_t e) {
                 double acc[kBlock];
                 for (int64_t task = b; task < e; task++) {
                   const int64_t o = task / blocks, j0 = (task % blocks) * kBlock;
                   const int64_t width = std::min(kBlock, inner - j0);
                   const T* base = x + o * r * inner + j0;
                   const double init = op == Reduce::max   ? -std::numeric_limits<double>::infinity()
                                       : op == Reduce::min ? std::numeric_limits<double>::infinity()
                                                           : 0.0;
                   for (int64_t j = 0; j < width; j++) acc[j] = init;
                   for (int64_t i = 0; i < r; i++) {
                     const T* row = base + i * inner;
                     if (op == Reduce::sum || op == Reduce::mean) {
#pragma omp simd
                       for (int64_t j = 0; j < width; j++) acc[j] += to_float(row[j]);
                     } else {
                       for (int64_t j = 0; j < width; j++) {
                         double v = to_float(row[j]);
                         if (std::isnan(v) || std::isnan(acc[j]))
                           acc[j] = std::numeric_limits<double>::quiet_NaN();
                         else
                           acc[j] = op == Reduce::max ? std::max(acc[j], v) : std::min(acc[j], v);
                       }
                     }
                   }
                   O* dst = out + o * inner + j0;
                   for (int64_t j = 0; j < width; j++) dst[j] = from_float<O>(static_cast<float>(acc[j] * scale));
                 }
               });
}

// reduce(code, dtype, x, out, outer, r, inner, outDtype): out in x's dtype or float32 (a
// bf16 gradient's sum kept at float32 precision, with no separate cast).
Napi::Value ReduceKernel(const Napi::CallbackInfo& info) {
  Args args(info, "reduce", 8);
  int64_t code = args.integer(0, "code");
  args.require(code >= 0 && code < static_cast<int64_t>(Reduce::count), "unknown reduction code %lld",
               static_cast<long long>(code));
  DType dt = args.float_dtype(1, "dtype");
  int64_t outer = args.integer(4, "outer"), r = args.integer(5, "r"), inner = args.integer(6, "inner");
  args.require(outer >= 0 && r >= 0 && inner >= 0, "negative extent: outer %lld, r %lld, inner %lld",
               static_cast<long long>(outer), static_cast<long long>(r), static_cast<long long>(inner));
  Reduce op = static_cast<Reduce>(code);
  args.require(r > 0 || op == Reduce::sum, "max, min and mean of an empty axis are undefined");
  View x = args.tensor(2, "x", dt, outer * r * inner);
  DType out_dt = args.float_dtype(7, "outDtype");
  args.require(out_dt == dt || out_dt == DType::F32, "out must be in x's dtype or float32, got %s", dtype_name(out_dt));
  View out = args.tensor(3, "out", out_dt, outer * inner);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    if (out_dt == dt)
      reduce_rows(op, x.as<T>(), out.as<T>(), outer, r, inner);
    else
      reduce_rows(op, x.as<T>(), out.as<float>(), outer, r, inner);
  });
  return info.Env().Undefined();
}

Napi::Value ReduceCodes(const Napi::CallbackInfo& info) {
  Napi::Object codes = Napi::Object::New(info.Env());
  codes.Set("sum", static_cast<int>(Reduce::sum));
  codes.Set("mean", static_cast<int>(Reduce::mean));
  codes.Set("max", static_cast<int>(Reduce::max));
  codes.Set("min", static_cast<int>(Reduce::min));
  return codes;
}

}  // namespace

TURBINE_KERNEL(reduce, ReduceKernel);
TURBINE_KERNEL(reduceCodes, ReduceCodes);

}  // namespace turbine
