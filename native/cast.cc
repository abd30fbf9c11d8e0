// Casts between float32, bfloat16, float16 and int32. Floats round to nearest even; float to
// int32 truncates toward zero like torch's .to(torch.int32), and NaN or a value outside int32
// gives INT_MIN, as PyTorch's conversion does on x86.
#include <cmath>
#include <limits>

#include "args.h"
#include "parallel.h"
#include "registry.h"

namespace turbine {
namespace {

inline float load(const float* p, int64_t i) { return p[i]; }
inline float load(const bf16* p, int64_t i) { return to_float(p[i]); }
inline float load(const f16* p, int64_t i) { return to_float(p[i]); }
inline float load(const int32_t* p, int64_t i) { return static_cast<float>(p[i]); }

template <typename T>
inline void store(T* p, int64_t i, float v) { p[i] = from_float<T>(v); }
inline void store(int32_t* p, int64_t i, float v) {
  const bool representable = v > -2147483904.0f && v < 2147483648.0f;  // false for NaN too
  p[i] = representable ? static_cast<int32_t>(v) : std::numeric_limits<int32_t>::min();
}

template <typename Fn>
void dispatch_any(DType d, Fn&& fn) {
  if (d == DType::I32) fn(int32_t{});
  else dispatch_float(d, fn);
}

// cast(srcDtype, src, dstDtype, dst)
Napi::Value CastKernel(const Napi::CallbackInfo& info) {
  Args args(info, "cast", 4);
  DType from = args.dtype(0, "srcDtype");
  View src = args.tensor_any(1, "src", from);
  DType to = args.dtype(2, "dstDtype");
  int64_t n = static_cast<int64_t>(src.bytes / dtype_size(from));
  View dst = args.tensor(3, "dst", to, n);
  if (from == to) {
    std::memmove(dst.data, src.data, src.bytes);
    return info.Env().Undefined();
  }
  if (from == DType::I32 && to != DType::F32) {
    args.fail(std::string("int32 casts only to float32, not ") + dtype_name(to));
  }
  dispatch_any(from, [&](auto ftag) {
    using F = decltype(ftag);
    dispatch_any(to, [&](auto ttag) {
      using T = decltype(ttag);
      const F* s = src.as<F>();
      T* d = dst.as<T>();
      parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; i++) store(d, i, load(s, i));
      });
    });
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(cast, CastKernel);

}  // namespace turbine
