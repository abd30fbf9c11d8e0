// metaFields(): every packed meta's field indices by name, and its field count, e.g.
// { conv2d: { fields: { n: 0, c: 1, ... }, count: 15 }, pool2d: ..., matmul: ... }.
#include "meta_fields.h"

#include "args.h"
#include "registry.h"

namespace turbine {
namespace {

#define TURBINE_META_SET(field, name) fields.Set(#name, static_cast<int>(field));

Napi::Object layout(Napi::Env env, const Napi::Object& fields, int count) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("fields", fields);
  out.Set("count", count);
  return out;
}

Napi::Value MetaFields(const Napi::CallbackInfo& info) {
  Args args(info, "metaFields", 0);
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  {
    using namespace conv_meta;
    Napi::Object fields = Napi::Object::New(env);
    TURBINE_CONV_META(TURBINE_META_SET)
    out.Set("conv2d", layout(env, fields, kMeta));
  }
  {
    using namespace pool_meta;
    Napi::Object fields = Napi::Object::New(env);
    TURBINE_POOL_META(TURBINE_META_SET)
    out.Set("pool2d", layout(env, fields, kMeta));
  }
  {
    using namespace matmul_meta;
    Napi::Object fields = Napi::Object::New(env);
    TURBINE_MATMUL_META(TURBINE_META_SET)
    out.Set("matmul", layout(env, fields, kMeta));
  }
  return out;
}

}  // namespace

TURBINE_KERNEL(metaFields, MetaFields);

}  // namespace turbine
