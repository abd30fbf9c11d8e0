// The arithmetic of the shared-memory collectives: each rank reduces its chunk of every rank's
// buffer (SharedArrayBuffer-backed typed arrays) into one destination, so the reduction of a
// collective is spread over all ranks. The synchronisation lives in TypeScript (Atomics).
#include <algorithm>
#include <cstring>
#include <vector>

#include "args.h"
#include "parallel.h"
#include "registry.h"

namespace turbine {
namespace {

enum class CollectiveOp : int { Sum = 0, Max = 1 };

// A typed array's kind, element count and data pointer. napi_get_typedarray_info (unlike
// napi_get_arraybuffer_info) also serves arrays over a SharedArrayBuffer.
struct ArrayInfo {
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  size_t bytes() const { return length * (type == napi_uint16_array ? 2 : type == napi_uint8_array ? 1 : 4); }
};

ArrayInfo array_info(const Args& args, Napi::Value value, const char* name) {
  args.require(value.IsTypedArray(), "%s must be a typed array", name);
  ArrayInfo a;
  napi_value buffer;
  size_t offset;
  args.require(napi_get_typedarray_info(value.Env(), value, &a.type, &a.length, &a.data, &buffer, &offset) == napi_ok,
               "could not read %s", name);
  args.require(a.type == napi_float32_array || a.type == napi_uint16_array || a.type == napi_int32_array ||
                   a.type == napi_uint8_array,
               "%s must be a Float32Array, Uint16Array, Int32Array or Uint8Array", name);
  return a;
}

// Sources are combined into a block of floats before any destination is written, so a
// destination may be one of the sources (a rank reducing into every rank's buffer at once).
constexpr int64_t kBlock = 2048;

template <typename T>
void reduce_range(CollectiveOp op, float scale, const std::vector<T*>& dsts, const std::vector<const T*>& srcs,
                  int64_t begin, int64_t end) {
  alignas(64) float acc[kBlock];
  const size_t count = srcs.size();
  for (int64_t b = begin; b < end; b += kBlock) {
    const int64_t n = std::min(kBlock, end - b);
    const T* s0 = srcs[0] + b;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) acc[i] = to_float(s0[i]);
    for (size_t k = 1; k < count; k++) {
      const T* s = srcs[k] + b;
      if (op == CollectiveOp::Sum) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) acc[i] += to_float(s[i]);
      } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) acc[i] = std::max(acc[i], to_float(s[i]));
      }
    }
    if (scale != 1.0f) {
#pragma omp simd
      for (int64_t i = 0; i < n; i++) acc[i] *= scale;
    }
    for (T* dst : dsts) {
      T* d = dst + b;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) d[i] = from_float<T>(acc[i]);
    }
  }
}

// The data pointers of a non-empty array of typed arrays of `dtype`, each of n elements
// (n = -1: taken from the first).
std::vector<void*> array_list(const Napi::CallbackInfo& info, const Args& args, size_t i, const char* name, DType dtype,
                              int64_t& n) {
  args.require(info[i].IsArray(), "argument '%s' must be an array of typed arrays", name);
  Napi::Array list = info[i].As<Napi::Array>();
  const uint32_t count = list.Length();
  args.require(count >= 1, "%s must hold at least one typed array", name);
  std::vector<void*> raw(count);
  const bool f32 = dtype == DType::F32;
  for (uint32_t k = 0; k < count; k++) {
    ArrayInfo a = array_info(args, list[k], name);
    args.require(a.type == (f32 ? napi_float32_array : napi_uint16_array), "%s[%u] must be a %s for %s", name, k,
                 f32 ? "Float32Array" : "Uint16Array", dtype_name(dtype));
    if (n < 0) n = static_cast<int64_t>(a.length);
    args.require(static_cast<int64_t>(a.length) == n, "%s[%u] holds %zu elements, expected %lld", name, k, a.length,
                 static_cast<long long>(n));
    raw[k] = a.data;
  }
  return raw;
}

// collectiveReduce(dtype, op, dsts, srcs, scale): every dsts[j][i] = scale · (srcs[0][i] op
// srcs[1][i] op ...), in source order, for float dtypes; all arrays hold the same count.
Napi::Value CollectiveReduce(const Napi::CallbackInfo& info) {
  Args args(info, "collectiveReduce", 5);
  const DType dtype = args.float_dtype(0, "dtype");
  const int64_t code = args.integer(1, "op");
  args.require(code == 0 || code == 1, "op must be 0 (sum) or 1 (max), got %lld", static_cast<long long>(code));
  int64_t n = -1;
  std::vector<void*> dst_raw = array_list(info, args, 2, "dsts", dtype, n);
  std::vector<void*> src_raw = array_list(info, args, 3, "srcs", dtype, n);
  const float scale = static_cast<float>(args.number(4, "scale"));
  const auto op = static_cast<CollectiveOp>(code);
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    std::vector<const T*> srcs;
    std::vector<T*> dsts;
    for (void* p : src_raw) srcs.push_back(static_cast<const T*>(p));
    for (void* p : dst_raw) dsts.push_back(static_cast<T*>(p));
    parallel_for(n, kElementGrain,
                 [&](int64_t begin, int64_t end) { reduce_range<T>(op, scale, dsts, srcs, begin, end); });
  });
  return info.Env().Undefined();
}

// copyBytes(dst, src): memcpy between two typed arrays of the same byte length (staging copies
// into shared memory, and the memcpy reference of the all-reduce benchmark).
Napi::Value CopyBytes(const Napi::CallbackInfo& info) {
  Args args(info, "copyBytes", 2);
  ArrayInfo dst = array_info(args, info[0], "dst"), src = array_info(args, info[1], "src");
  args.require(dst.bytes() == src.bytes(), "dst holds %zu bytes, src %zu", dst.bytes(), src.bytes());
  std::memmove(dst.data, src.data, dst.bytes());
  return info.Env().Undefined();
}

Napi::Value CollectiveCodes(const Napi::CallbackInfo& info) {
  Napi::Object codes = Napi::Object::New(info.Env());
  codes.Set("sum", static_cast<int>(CollectiveOp::Sum));
  codes.Set("max", static_cast<int>(CollectiveOp::Max));
  return codes;
}

}  // namespace

TURBINE_KERNEL(collectiveReduce, CollectiveReduce);
TURBINE_KERNEL(copyBytes, CopyBytes);
TURBINE_KERNEL(collectiveCodes, CollectiveCodes);

}  // namespace turbine
