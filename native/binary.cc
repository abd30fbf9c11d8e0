// Element-wise binary ops with broadcasting (strides of 0), for f32, bf16 and f16 computed in
// f32. Comparisons write 1 or 0 in the operands' dtype. out may alias a (in-place update).
#include <cmath>

#include "args.h"
#include "broadcast.h"
#include "registry.h"

namespace turbine {
namespace {

#define BINARY_OPS(X)                        \
  X(add, a + b)                              \
  X(sub, a - b)                              \
  X(mul, a* b)                               \
  X(div, a / b)                              \
  X(pow, std::pow(a, b))                     \
  X(maximum, a > b || std::isnan(a) ? a : b) \
  X(minimum, a < b || std::isnan(a) ? a : b) \
  X(eq, static_cast<float>(a == b))          \
  X(ne, static_cast<float>(a != b))          \
  X(lt, static_cast<float>(a < b))           \
  X(le, static_cast<float>(a <= b))          \
  X(gt, static_cast<float>(a > b))           \
  X(ge, static_cast<float>(a >= b))

enum class Binary : int {
#define X(name, expr) name,
  BINARY_OPS(X)
#undef X
      count
};

template <typename T, typename Fn>
void run(const Broadcast<2>& bc, const T* a, const T* b, T* out, Fn f) {
  bc.for_each_run([&](const int64_t* off, int64_t count, const int64_t* step, int64_t out_off) {
    const T* pa = a + off[0];
    const T* pb = b + off[1];
    T* po = out + out_off;
    if (step[0] == 1 && step[1] == 1) {
#pragma omp simd
      for (int64_t i = 0; i < count; i++) po[i] = from_float<T>(f(to_float(pa[i]), to_float(pb[i])));
    } else if (step[0] == 1 && step[1] == 0) {
      const float vb = to_float(*pb);
#pragma omp simd
      for (int64_t i = 0; i < count; i++) po[i] = from_float<T>(f(to_float(pa[i]), vb));
    } else if (step[0] == 0 && step[1] == 1) {
      const float va = to_float(*pa);
#pragma omp simd
      for (int64_t i = 0; i < count; i++) po[i] = from_float<T>(f(va, to_float(pb[i])));
    } else {
      for (int64_t i = 0; i < count; i++)
        po[i] = from_float<T>(f(to_float(pa[i * step[0]]), to_float(pb[i * step[1]])));
    }
  });
}

// binary(code, dtype, a, b, out, meta) with meta = [ndim, shape..., aStrides..., bStrides...]
Napi::Value BinaryKernel(const Napi::CallbackInfo& info) {
  Args args(info, "binary", 6);
  int64_t code = args.integer(0, "code");
  args.require(code >= 0 && code < static_cast<int64_t>(Binary::count), "unknown binary op code %lld",
               static_cast<long long>(code));
  DType dt = args.float_dtype(1, "dtype");
  View a = args.tensor_any(2, "a", dt);
  View b = args.tensor_any(3, "b", dt);
  const int64_t size = static_cast<int64_t>(dtype_size(dt));
  Broadcast<2> bc(args, 5, {static_cast<int64_t>(a.bytes) / size, static_cast<int64_t>(b.bytes) / size});
  View out = args.tensor(4, "out", dt, bc.numel);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    switch (static_cast<Binary>(code)) {
#define X(name, expr)                                                                  \
  case Binary::name:                                                                   \
    run(bc, a.as<T>(), b.as<T>(), out.as<T>(), [](float a, float b) { return expr; }); \
    break;
      BINARY_OPS(X)
#undef X
      default:
        break;
    }
  });
  return info.Env().Undefined();
}

Napi::Value BinaryCodes(const Napi::CallbackInfo& info) {
  Napi::Object codes = Napi::Object::New(info.Env());
#define X(name, expr) codes.Set(#name, static_cast<int>(Binary::name));
  BINARY_OPS(X)
#undef X
  return codes;
}

}  // namespace

TURBINE_KERNEL(binary, BinaryKernel);
TURBINE_KERNEL(binaryCodes, BinaryCodes);

}  // namespace turbine
