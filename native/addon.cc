// The addon's entry point: exports every kernel that registered itself (see registry.h) and
// the per-thread OpenMP controls. N-API addons are context-aware, so worker threads load it too.
#include <omp.h>

#include "args.h"
#include "registry.h"

namespace turbine {

std::vector<KernelEntry>& kernel_registry() {
  static std::vector<KernelEntry> entries;
  return entries;
}

namespace {

// The OpenMP thread count is an attribute of the calling thread, so each worker thread sets
// its own and oneDNN's primitives follow it.
Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args args(info, "setNumThreads", 1);
  int64_t n = args.integer(0, "threads");
  args.require(n >= 1 && n <= 1024, "thread count must be in 1..1024, got %lld", static_cast<long long>(n));
  omp_set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

// Bytes from the start of an ArrayBuffer to its first 64-byte-aligned address: the pool places
// tensors there, as vector loads and oneDNN's kernels run faster on cache-line-aligned data.
Napi::Value AlignmentOffset(const Napi::CallbackInfo& info) {
  Args args(info, "alignmentOffset", 1);
  args.require(info[0].IsArrayBuffer(), "argument must be an ArrayBuffer");
  void* data = nullptr;
  size_t length = 0;
  napi_get_arraybuffer_info(info.Env(), info[0], &data, &length);
  const uintptr_t address = reinterpret_cast<uintptr_t>(data);
  return Napi::Number::New(info.Env(), static_cast<double>((64 - address % 64) % 64));
}

}  // namespace

TURBINE_KERNEL(alignmentOffset, AlignmentOffset);
TURBINE_KERNEL(setNumThreads, SetNumThreads);
TURBINE_KERNEL(getNumThreads, GetNumThreads);

}  // namespace turbine

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (const auto& entry : turbine::kernel_registry()) {
    exports.Set(entry.name, Napi::Function::New(env, entry.fn, entry.name));
  }
  return exports;
}

NODE_API_MODULE(turbine, Init)
