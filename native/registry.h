// Kernels register themselves at load time, so adding a kernel file needs no edit elsewhere:
// each .cc declares TURBINE_KERNEL(jsName, function) and addon.cc exports every entry.
#pragma once
#include <napi.h>

#include <vector>

namespace turbine {

using KernelFn = Napi::Value (*)(const Napi::CallbackInfo&);

struct KernelEntry {
  const char* name;
  KernelFn fn;
};

std::vector<KernelEntry>& kernel_registry();

struct KernelRegistrar {
  KernelRegistrar(const char* name, KernelFn fn) { kernel_registry().push_back({name, fn}); }
};

}  // namespace turbine

#define TURBINE_KERNEL(name, fn) static ::turbine::KernelRegistrar turbine_registrar_##name(#name, fn)
