// Selection with three-operand broadcasting: out = cond ? a : b. Nothing is computed on the
// values, so they are copied as bits of their width (any dtype works); the condition is true
// where it is nonzero: for floats any value but ±0 (NaN counts as true), for int32 any but 0.
#include "args.h"
#include "broadcast.h"
#include "registry.h"

namespace turbine {
namespace {

// C: the condition's storage word; mask clears a float's sign bit so -0 reads as false.
template <typename C, typename T>
void select_runs(const Broadcast<3>& bc, const C* cond, C mask, const T* a, const T* b, T* out) {
  bc.for_each_run([&](const int64_t* off, int64_t count, const int64_t* step, int64_t out_off) {
    const C* pc = cond + off[0];
    const T* pa = a + off[1];
    const T* pb = b + off[2];
    T* po = out + out_off;
    if (step[0] == 1 && step[1] == 1 && step[2] == 1) {
#pragma omp simd
      for (int64_t i = 0; i < count; i++) po[i] = (pc[i] & mask) ? pa[i] : pb[i];
    } else {
      for (int64_t i = 0; i < count; i++) po[i] = (pc[i * step[0]] & mask) ? pa[i * step[1]] : pb[i * step[2]];
    }
  });
}

template <typename T>
void select_values(const Broadcast<3>& bc, DType cond_dtype, const View& cond, const T* a, const T* b, T* out) {
  switch (cond_dtype) {
    case DType::F32:
      select_runs(bc, cond.as<uint32_t>(), uint32_t{0x7fffffffu}, a, b, out);
      break;
    case DType::I32:
      select_runs(bc, cond.as<uint32_t>(), uint32_t{0xffffffffu}, a, b, out);
      break;
    case DType::BF16:
    case DType::F16:
      select_runs(bc, cond.as<uint16_t>(), uint16_t{0x7fffu}, a, b, out);
      break;
  }
}

// where(condDtype, cond, dtype, a, b, out, meta) with
// meta = [ndim, shape..., condStrides..., aStrides..., bStrides...]
Napi::Value WhereKernel(const Napi::CallbackInfo& info) {
  Args args(info, "where", 7);
  DType cond_dtype = args.dtype(0, "condDtype");
  View cond = args.tensor_any(1, "cond", cond_dtype);
  DType dt = args.dtype(2, "dtype");
  View a = args.tensor_any(3, "a", dt);
  View b = args.tensor_any(4, "b", dt);
  const int64_t size = static_cast<int64_t>(dtype_size(dt));
  Broadcast<3> bc(args, 6,
                  {static_cast<int64_t>(cond.bytes / dtype_size(cond_dtype)), static_cast<int64_t>(a.bytes) / size,
                   static_cast<int64_t>(b.bytes) / size});
  View out = args.tensor(5, "out", dt, bc.numel);
  if (size == 4) {
    select_values(bc, cond_dtype, cond, a.as<uint32_t>(), b.as<uint32_t>(), out.as<uint32_t>());
  } else {
    select_values(bc, cond_dtype, cond, a.as<uint16_t>(), b.as<uint16_t>(), out.as<uint16_t>());
  }
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(where, WhereKernel);

}  // namespace turbine
