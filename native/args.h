// Reading a kernel's JavaScript arguments. Native code never trusts its inputs: every typed
// array is checked for its element kind and byte length before a pointer is used, and every
// violation becomes a JavaScript error that starts with the op's name.
#pragma once
#include <napi.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "dtype.h"

namespace turbine {

struct View {
  void* data = nullptr;
  size_t bytes = 0;
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

// One argument of a kernel call that native/replay.cc runs without JavaScript: the value the
// JavaScript argument had when the call was bound (a typed array as its kind, data and length).
struct BoundArg {
  enum class Kind { Null, Number, Boolean, Array };
  Kind kind = Kind::Null;
  double number = 0;
  napi_typedarray_type type = napi_float32_array;
  void* data = nullptr;
  size_t length = 0;
};

// The arguments of the kernel call running now on this thread when a native replay runs it, else
// null: Args reads them instead of its CallbackInfo's, with the same checks.
struct BoundCall {
  const BoundArg* args;
  size_t count;
};
extern thread_local const BoundCall* bound_call;

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op, size_t count);

  Napi::Env env() const { return info_.Env(); }
  const char* op() const { return op_; }

  // An Error whose message starts with the op's name; a TypeError where the argument has the
  // wrong JavaScript type (not a number, not the typed array its dtype needs).
  [[noreturn]] void fail(const std::string& message, bool type_error = false) const;

  template <typename... Rest>
  void require(bool ok, const char* format, Rest... rest) const {
    if (!ok) fail(format_message(format, rest...));
  }
  template <typename... Rest>
  void require_type(bool ok, const char* format, Rest... rest) const {
    if (!ok) fail(format_message(format, rest...), true);
  }

  bool is_null(size_t i) const;
  // A typed array of the kind that stores dtype, holding exactly numel elements.
  View tensor(size_t i, const char* name, DType dtype, int64_t numel) const;
  // Like tensor() when the element count is derived from the array itself.
  View tensor_any(size_t i, const char* name, DType dtype) const;
  int64_t integer(size_t i, const char* name) const;
  double number(size_t i, const char* name) const;
  bool boolean(size_t i, const char* name) const;
  DType dtype(size_t i, const char* name) const;
  DType float_dtype(size_t i, const char* name) const;
  // An Int32Array of at least `count` entries, e.g. packed shapes and strides.
  const int32_t* ints(size_t i, const char* name, size_t count) const;
  // A Float64Array of at least `count` entries, e.g. an optimizer's hyperparameters.
  const double* doubles(size_t i, const char* name, size_t count) const;
  // The length of argument i, a JavaScript array (of typed arrays, for the multi-tensor kernels).
  uint32_t list_length(size_t i, const char* name) const;
  // Entry k of the array argument i: null/undefined, or a typed array of dtype (numel elements).
  bool list_entry_is_null(size_t i, uint32_t k) const;
  View list_tensor(size_t i, uint32_t k, const char* name, DType dtype, int64_t numel) const;
  View list_tensor_any(size_t i, uint32_t k, const char* name, DType dtype) const;

 private:
  template <typename... Rest>
  static std::string format_message(const char* format, Rest... rest) {
    char text[512];
    std::snprintf(text, sizeof text, format, rest...);
    return text;
  }
  View typed(size_t i, const char* name, napi_typedarray_type* type) const;
  View typed_value(napi_value value, const char* name, napi_typedarray_type* type) const;
  View checked(View v, napi_typedarray_type type, const char* name, DType dtype, int64_t numel, bool any_count) const;
  napi_value list_entry(size_t i, uint32_t k) const;
  View list_view(size_t i, uint32_t k, const char* name, DType dtype, int64_t numel, bool any_count) const;

  const BoundArg* bound(size_t i) const { return bound_ != nullptr && i < bound_->count ? &bound_->args[i] : nullptr; }

  const Napi::CallbackInfo& info_;
  const char* op_;
  const BoundCall* bound_;
};

// An optional f32 array of `count` elements: null/undefined gives nullptr.
inline float* optional_f32(const Args& args, size_t i, const char* name, int64_t count) {
  return args.is_null(i) ? nullptr : args.tensor(i, name, DType::F32, count).as<float>();
}

}  // namespace turbine
