#include "args.h"

namespace turbine {

namespace {

napi_typedarray_type array_kind(DType d) {
  switch (d) {
    case DType::F32:
      return napi_float32_array;
    case DType::BF16:
    case DType::F16:
      return napi_uint16_array;
    case DType::I32:
      return napi_int32_array;
  }
  return napi_float32_array;
}

const char* array_name(napi_typedarray_type t) {
  switch (t) {
    case napi_float32_array:
      return "Float32Array";
    case napi_uint16_array:
      return "Uint16Array";
    case napi_int32_array:
      return "Int32Array";
    case napi_uint8_array:
      return "Uint8Array";
    case napi_float64_array:
      return "Float64Array";
    default:
      return "another typed array";
  }
}

size_t item_bytes(napi_typedarray_type t) {
  switch (t) {
    case napi_float32_array:
    case napi_int32_array:
    case napi_uint32_array:
      return 4;
    case napi_uint16_array:
    case napi_int16_array:
      return 2;
    case napi_float64_array:
      return 8;
    default:
      return 1;
  }
}

}  // namespace

thread_local const BoundCall* bound_call = nullptr;

Args::Args(const Napi::CallbackInfo& info, const char* op, size_t count) : info_(info), op_(op), bound_(bound_call) {
  const size_t given = bound_ != nullptr ? bound_->count : info.Length();
  require(given == count, "expected %zu arguments, got %zu", count, given);
}

void Args::fail(const std::string& message, bool type_error) const {
  std::string text = std::string(op_) + ": " + message;
  if (type_error) throw Napi::TypeError::New(info_.Env(), text);
  throw Napi::Error::New(info_.Env(), text);
}

bool Args::is_null(size_t i) const {
  if (const BoundArg* b = bound(i)) return b->kind == BoundArg::Kind::Null;
  napi_valuetype t;
  napi_typeof(info_.Env(), info_[i], &t);
  return t == napi_null || t == napi_undefined;
}

View Args::typed(size_t i, const char* name, napi_typedarray_type* type) const {
  if (const BoundArg* b = bound(i)) {
    require_type(b->kind == BoundArg::Kind::Array, "argument '%s' must be a typed array", name);
    *type = b->type;
    View v;
    v.data = b->data;
    v.bytes = b->length * item_bytes(b->type);
    return v;
  }
  return typed_value(info_[i], name, type);
}

View Args::typed_value(napi_value value, const char* name, napi_typedarray_type* type) const {
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  bool is_typed = false;
  napi_is_typedarray(info_.Env(), value, &is_typed);
  require_type(is_typed, "argument '%s' must be a typed array", name);
  require(napi_get_typedarray_info(info_.Env(), value, type, &length, &data, &buffer, &offset) == napi_ok,
          "could not read argument '%s'", name);
  View v;
  v.data = data;
  v.bytes = length * item_bytes(*type);
  return v;
}

View Args::tensor(size_t i, const char* name, DType dtype, int64_t numel) const {
  napi_typedarray_type type;
  const View v = typed(i, name, &type);
  return checked(v, type, name, dtype, numel, false);
}

View Args::tensor_any(size_t i, const char* name, DType dtype) const {
  napi_typedarray_type type;
  const View v = typed(i, name, &type);
  return checked(v, type, name, dtype, 0, true);
}

// v as an array of dtype's kind with numel elements (any count when any_count).
View Args::checked(View v, napi_typedarray_type type, const char* name, DType dtype, int64_t numel,
                   bool any_count) const {
  require_type(type == array_kind(dtype), "'%s' is a %s, but dtype %s is stored in a %s", name, array_name(type),
               dtype_name(dtype), array_name(array_kind(dtype)));
  require(any_count || (numel >= 0 && v.bytes == static_cast<size_t>(numel) * dtype_size(dtype)),
          "'%s' holds %zu elements, expected %lld", name, v.bytes / dtype_size(dtype), static_cast<long long>(numel));
  return v;
}

uint32_t Args::list_length(size_t i, const char* name) const {
  require(bound(i) == nullptr, "argument '%s': a list is not replayed natively", name);
  require_type(info_[i].IsArray(), "argument '%s' must be an array", name);
  return info_[i].As<Napi::Array>().Length();
}

// napi_get_element runs JavaScript (a getter could), so it fails once the thread's worker is
// being terminated; the entry it did not write must never be used (that was a segfault of the
// whole process when a test or the elastic launcher ended a rank inside an optimizer step).
napi_value Args::list_entry(size_t i, uint32_t k) const {
  napi_value entry = nullptr;
  const napi_status status = napi_get_element(info_.Env(), info_[i], k, &entry);
  require(status == napi_ok && entry != nullptr, "could not read entry %u of argument %zu (is the thread stopping?)", k,
          i);
  return entry;
}

bool Args::list_entry_is_null(size_t i, uint32_t k) const {
  napi_valuetype t;
  napi_typeof(info_.Env(), list_entry(i, k), &t);
  return t == napi_null || t == napi_undefined;
}

View Args::list_view(size_t i, uint32_t k, const char* name, DType dtype, int64_t numel, bool any_count) const {
  char entry_name[96];
  std::snprintf(entry_name, sizeof entry_name, "%s[%u]", name, k);
  napi_typedarray_type type;
  const View v = typed_value(list_entry(i, k), entry_name, &type);
  return checked(v, type, entry_name, dtype, numel, any_count);
}

View Args::list_tensor(size_t i, uint32_t k, const char* name, DType dtype, int64_t numel) const {
  return list_view(i, k, name, dtype, numel, false);
}

View Args::list_tensor_any(size_t i, uint32_t k, const char* name, DType dtype) const {
  return list_view(i, k, name, dtype, 0, true);
}

int64_t Args::integer(size_t i, const char* name) const {
  const double d = number(i, name);
  require(std::floor(d) == d && std::fabs(d) < 9.007199254740992e15, "argument '%s' must be an integer, got %g", name,
          d);
  return static_cast<int64_t>(d);
}

double Args::number(size_t i, const char* name) const {
  if (const BoundArg* b = bound(i)) {
    require_type(b->kind == BoundArg::Kind::Number, "argument '%s' must be a number", name);
    return b->number;
  }
  napi_valuetype t;
  napi_typeof(info_.Env(), info_[i], &t);
  require_type(t == napi_number, "argument '%s' must be a number", name);
  double d;
  napi_get_value_double(info_.Env(), info_[i], &d);
  return d;
}

bool Args::boolean(size_t i, const char* name) const {
  if (const BoundArg* b = bound(i)) {
    require_type(b->kind == BoundArg::Kind::Boolean, "argument '%s' must be a boolean", name);
    return b->number != 0;
  }
  napi_valuetype t;
  napi_typeof(info_.Env(), info_[i], &t);
  require_type(t == napi_boolean, "argument '%s' must be a boolean", name);
  bool b;
  napi_get_value_bool(info_.Env(), info_[i], &b);
  return b;
}

DType Args::dtype(size_t i, const char* name) const {
  int64_t code = integer(i, name);
  require(code >= 0 && code <= 3, "'%s' is not a dtype code (0..3): %lld", name, static_cast<long long>(code));
  return static_cast<DType>(code);
}

DType Args::float_dtype(size_t i, const char* name) const {
  DType d = dtype(i, name);
  require(d != DType::I32, "'%s' must be a floating dtype, got int32", name);
  return d;
}

const int32_t* Args::ints(size_t i, const char* name, size_t count) const {
  napi_typedarray_type type;
  View v = typed(i, name, &type);
  require_type(type == napi_int32_array, "'%s' must be an Int32Array", name);
  require(v.bytes >= count * 4, "'%s' holds %zu entries, expected at least %zu", name, v.bytes / 4, count);
  return v.as<int32_t>();
}

const double* Args::doubles(size_t i, const char* name, size_t count) const {
  napi_typedarray_type type;
  View v = typed(i, name, &type);
  require_type(type == napi_float64_array, "'%s' must be a Float64Array", name);
  require(v.bytes >= count * 8, "'%s' holds %zu entries, expected at least %zu", name, v.bytes / 8, count);
  return v.as<double>();
}

}  // namespace turbine
