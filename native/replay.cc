// The native replay loop of a compiled step (src/compile/native_replay.ts): a run of kernel calls
// bound once (each kernel found in the registry, each argument read into a BoundArg: a typed
// array's kind, address and length, a number, a flag or null) and then run in one JavaScript
// call. Each kernel reads its bound arguments through Args with every check it makes on
// JavaScript's, so a replayed call computes exactly what the same call from TypeScript does,
// without crossing into JavaScript between kernels.
//
// The addresses stay valid because the TypeScript side keeps the typed arrays of a bound run
// referenced for as long as it may run it (an ArrayBuffer's memory never moves).
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "registry.h"

namespace turbine {
namespace {

struct BoundKernelCall {
  KernelFn fn;
  std::vector<BoundArg> args;
};

using BoundRun = std::vector<BoundKernelCall>;

KernelFn find_kernel(const std::string& name) {
  for (const auto& entry : kernel_registry())
    if (name == entry.name) return entry.fn;
  return nullptr;
}

BoundArg bind_arg(const Args& args, napi_env env, napi_value value, size_t call, size_t i) {
  BoundArg bound;
  napi_valuetype t;
  napi_typeof(env, value, &t);
  bool is_typed = false;
  napi_is_typedarray(env, value, &is_typed);
  if (t == napi_null || t == napi_undefined) {
    bound.kind = BoundArg::Kind::Null;
  } else if (t == napi_number) {
    bound.kind = BoundArg::Kind::Number;
    napi_get_value_double(env, value, &bound.number);
  } else if (t == napi_boolean) {
    bool flag = false;
    napi_get_value_bool(env, value, &flag);
    bound.kind = BoundArg::Kind::Boolean;
    bound.number = flag ? 1 : 0;
  } else if (is_typed) {
    bound.kind = BoundArg::Kind::Array;
    napi_value buffer;
    size_t offset = 0;
    napi_get_typedarray_info(env, value, &bound.type, &bound.length, &bound.data, &buffer, &offset);
  } else {
    args.fail("call " + std::to_string(call) + " argument " + std::to_string(i) +
                  " is not a number, flag, null or typed array",
              true);
  }
  return bound;
}

void delete_run(napi_env, void* data, void*) { delete static_cast<BoundRun*>(data); }

// replayBind(names, argLists): names[k] is a registered kernel, argLists[k] its arguments.
// Returns an external handle for replayRun.
Napi::Value ReplayBind(const Napi::CallbackInfo& info) {
  Args args(info, "replayBind", 2);
  napi_env env = info.Env();
  args.require(info[0].IsArray() && info[1].IsArray(), "names and argument lists must be arrays");
  Napi::Array names = info[0].As<Napi::Array>(), lists = info[1].As<Napi::Array>();
  args.require(names.Length() == lists.Length(), "%u names but %u argument lists", names.Length(), lists.Length());
  auto run = std::make_unique<BoundRun>();
  run->reserve(names.Length());
  for (uint32_t k = 0; k < names.Length(); k++) {
    Napi::Value name = names[k], list = lists[k];
    args.require(name.IsString() && list.IsArray(), "call %u needs a kernel name and an argument array", k);
    const std::string kernel = name.As<Napi::String>().Utf8Value();
    KernelFn fn = find_kernel(kernel);
    args.require(fn != nullptr && kernel.rfind("replay", 0) != 0, "call %u: no kernel named '%s'", k, kernel.c_str());
    Napi::Array values = list.As<Napi::Array>();
    BoundKernelCall call{fn, {}};
    call.args.reserve(values.Length());
    for (uint32_t i = 0; i < values.Length(); i++) call.args.push_back(bind_arg(args, env, values.Get(i), k, i));
    run->push_back(std::move(call));
  }
  napi_value handle;
  BoundRun* raw = run.get();
  napi_create_external(env, raw, delete_run, nullptr, &handle);
  run.release();
  return Napi::Value(env, handle);
}

// replayRun(handle): every call of a bound run, in order, on this thread.
Napi::Value ReplayRun(const Napi::CallbackInfo& info) {
  Args args(info, "replayRun", 1);
  napi_valuetype t;
  napi_typeof(info.Env(), info[0], &t);
  args.require_type(t == napi_external, "argument 'handle' must be a handle from replayBind");
  void* data = nullptr;
  napi_get_value_external(info.Env(), info[0], &data);
  const BoundRun& run = *static_cast<const BoundRun*>(data);
  struct Unbind {
    ~Unbind() { bound_call = nullptr; }
  } unbind;
  for (const BoundKernelCall& call : run) {
    const BoundCall bound{call.args.data(), call.args.size()};
    bound_call = &bound;
    call.fn(info);
  }
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(replayBind, ReplayBind);
TURBINE_KERNEL(replayRun, ReplayRun);

}  // namespace turbine
