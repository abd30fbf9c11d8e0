// Per-thread oneDNN state shared by the matmul and convolution kernels. Everything is
// thread_local so worker threads never contend, and primitives use a user-managed scratchpad
// so two threads can execute primitives at once.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "args.h"
#include "dtype.h"

namespace turbine {

dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();
// A scratch buffer of at least `bytes`, reused across calls on this thread.
void* scratchpad(size_t bytes);

inline dnnl::memory::data_type onednn_type(DType d) {
  switch (d) {
    case DType::F32:
      return dnnl::memory::data_type::f32;
    case DType::BF16:
      return dnnl::memory::data_type::bf16;
    case DType::F16:
      return dnnl::memory::data_type::f16;
    case DType::I32:
      return dnnl::memory::data_type::s32;
  }
  return dnnl::memory::data_type::f32;
}

// A fixed-size key of integers, hashed as a whole; primitives are cached by it.
template <size_t N>
struct PrimitiveKey {
  int64_t v[N] = {};
  bool operator==(const PrimitiveKey& o) const {
    for (size_t i = 0; i < N; i++)
      if (v[i] != o.v[i]) return false;
    return true;
  }
};

template <size_t N>
struct PrimitiveKeyHash {
  size_t operator()(const PrimitiveKey<N>& k) const {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < N; i++) h = (h ^ static_cast<uint64_t>(k.v[i])) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

// A bounded per-thread cache: a run whose shapes never repeat must not grow memory forever.
template <size_t N, typename Entry>
class PrimitiveCache {
 public:
  template <typename Make>
  Entry& get(const PrimitiveKey<N>& key, Make&& make) {
    auto it = map_.find(key);
    if (it != map_.end()) return it->second;
    if (map_.size() >= kCapacity) map_.clear();
    return map_.emplace(key, make()).first->second;
  }

 private:
  static constexpr size_t kCapacity = 512;
  std::unordered_map<PrimitiveKey<N>, Entry, PrimitiveKeyHash<N>> map_;
};

// Runs a oneDNN call, turning its errors into a JavaScript error that names the op.
template <typename Fn>
auto onednn_call(const Args& args, const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const dnnl::error& e) {
    args.fail(std::string(what) + " failed in oneDNN: " + e.what());
  }
}

}  // namespace turbine
