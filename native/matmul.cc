// Batched matmul on oneDNN: C[b] (+)= op(A[b]) · op(B[b]) (+ bias), either operand transposed
// through its strides (no copy), a batch of 1 broadcast against the other, f32 or bf16
// inputs with f32 accumulation, and an optional accumulate-into-C used for gradients. Extents
// the meta marks as runtime (an expert's rows) share one primitive across their values. An
// operand the meta marks as padded is first copied into rows 64 bytes longer than its own: where
// its rows are a multiple of 2 KiB long, oneDNN's AVX2 kernels read them into the same few cache
// sets and ran at half speed on Zen 3 (ops/padded_operands.ts measures which operands to pad).
// matmulGelu is the same product followed by turbine's GELU (erf) in the same call: the product
// into the pre-activation backward needs (or into c itself), then one GELU pass. (oneDNN's
// eltwise post-op would save that pass, but its erf is not turbine's: a forward without a
// gradient, such as activation checkpointing's first pass, must give the bits of one with.)
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "args.h"
#include "gelu.h"
#include "meta_fields.h"
#include "onednn.h"
#include "parallel.h"
#include "registry.h"

namespace turbine {
namespace {

using dnnl::memory;

struct MatmulPrimitive {
  dnnl::matmul prim;
  memory a, b, c, bias, scratch;
  size_t scratch_bytes = 0;
};

enum Field {
  kBatchA,
  kBatchB,
  kM,
  kN,
  kK,
  kTransA,
  kTransB,
  kTypeAB,
  kTypeC,
  kBias,
  kAccumulate,
  kThreads,
  kPadA,
  kPadB,
  kFields
};

// Bytes a padded operand's rows grow by: one cache line.
constexpr int64_t kPadBytes = 64;

// An extent the primitive takes when it runs (in a key: the extent's value is left out). A
// product whose row count changes every call, such as a mixture of experts' expert, would
// otherwise build a primitive per count: 0.4 ms each, on products of 2 ms.
constexpr int64_t kRuntime = DNNL_RUNTIME_DIM_VAL;

int64_t times(int64_t x, int64_t y) { return x == kRuntime || y == kRuntime ? kRuntime : x * y; }

// A [batch, rows, cols] operand, stored rows × cols or, when transposed, cols × rows; `pad`
// elements after each stored row (whose length is then fixed: run_matmul checks).
memory::desc operand_md(int64_t batch, int64_t rows, int64_t cols, memory::data_type type, bool transposed,
                        int64_t pad = 0) {
  const int64_t stored = transposed ? rows : cols;
  const int64_t ld = stored == kRuntime ? kRuntime : stored + pad;
  const int64_t matrix = times(transposed ? cols : rows, ld);
  return memory::desc({batch, rows, cols}, type,
                      transposed ? memory::dims{matrix, 1, ld} : memory::dims{matrix, ld, 1});
}

// Elements of dtype `type` in kPadBytes.
int64_t pad_elements(DType type) { return kPadBytes / static_cast<int64_t>(dtype_size(type)); }

struct OperandDescs {
  memory::desc a, b, c, bias;
};

// The operands' descriptions for key's product; extents marked kRuntime stay so.
OperandDescs operand_descs(const PrimitiveKey<kFields>& key) {
  const auto& v = key.v;
  const int64_t batch = std::max(v[kBatchA], v[kBatchB]);
  const auto tab = onednn_type(static_cast<DType>(v[kTypeAB]));
  const auto tc = onednn_type(static_cast<DType>(v[kTypeC]));
  const int64_t m = v[kM], n = v[kN], k = v[kK];
  const int64_t pad = pad_elements(static_cast<DType>(v[kTypeAB]));
  return {operand_md(v[kBatchA], m, k, tab, v[kTransA] != 0, v[kPadA] ? pad : 0),
          operand_md(v[kBatchB], k, n, tab, v[kTransB] != 0, v[kPadB] ? pad : 0), operand_md(batch, m, n, tc, false),
          v[kBias] ? operand_md(1, 1, n, memory::data_type::f32, false) : memory::desc()};
}

MatmulPrimitive make(const PrimitiveKey<kFields>& key) {
  const OperandDescs md = operand_descs(key);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (key.v[kAccumulate]) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  auto& engine = cpu_engine();
  dnnl::matmul::desc desc =
      key.v[kBias] ? dnnl::matmul::desc(md.a, md.b, md.bias, md.c) : dnnl::matmul::desc(md.a, md.b, md.c);
  dnnl::matmul::primitive_desc pd(desc, attr, engine);
  // Memories of a primitive with runtime extents are made per call, with the call's extents.
  const bool fixed = md.a.get_size() != DNNL_RUNTIME_SIZE_VAL && md.b.get_size() != DNNL_RUNTIME_SIZE_VAL &&
                     md.c.get_size() != DNNL_RUNTIME_SIZE_VAL;
  auto bound = [&](const memory::desc& d) { return fixed && !d.is_zero() ? memory(d, engine, nullptr) : memory(); };
  return {dnnl::matmul(pd),
          bound(md.a),
          bound(md.b),
          bound(md.c),
          bound(md.bias),
          memory(pd.scratchpad_desc(), engine, nullptr),
          pd.scratchpad_desc().get_size()};
}

// out = GELU(pre) over n elements of dtype T (out may be pre), in f32: the unary kernel's GELU,
// the same bits.
template <typename T>
void gelu_pass(const T* pre, T* out, int64_t n) {
  parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; i++) out[i] = from_float<T>(gelu_erf(to_float(pre[i])));
  });
}

// `source`'s `rows` stored rows of `cols` elements of `size` bytes, copied into a buffer of this
// thread's (`slot` 0 for A, 1 for B) with kPadBytes after each row; null when memory runs out.
void* padded_copy(const void* source, int64_t rows, int64_t cols, size_t size, int slot) {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<void, Free> buffers[2];
  thread_local size_t capacity[2] = {0, 0};
  const size_t row = static_cast<size_t>(cols) * size, ld = row + kPadBytes;
  const size_t bytes = static_cast<size_t>(rows) * ld;
  if (bytes > capacity[slot]) {
    const size_t rounded = (bytes + 4095) & ~static_cast<size_t>(4095);
    buffers[slot].reset(std::aligned_alloc(64, rounded));
    capacity[slot] = buffers[slot] ? rounded : 0;
    if (!buffers[slot]) return nullptr;
  }
  char* out = static_cast<char*>(buffers[slot].get());
  const char* in = static_cast<const char*>(source);
  parallel_for(rows, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(cols, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) std::memcpy(out + r * ld, in + r * row, row);
  });
  return out;
}

// The product of a matmul or matmulGelu call: c = op(a)·op(b) (+ bias) (+ c).
void run_matmul(const Args& args, View a, View b, View c, const View* bias, DType tab, DType tc, const int32_t* meta) {
  PrimitiveKey<kFields> key;
  key.v[kBatchA] = meta[matmul_meta::kBatchA];
  key.v[kBatchB] = meta[matmul_meta::kBatchB];
  key.v[kM] = meta[matmul_meta::kRuntimeM] ? kRuntime : meta[matmul_meta::kM];
  key.v[kN] = meta[matmul_meta::kRuntimeN] ? kRuntime : meta[matmul_meta::kN];
  key.v[kK] = meta[matmul_meta::kRuntimeK] ? kRuntime : meta[matmul_meta::kK];
  key.v[kTransA] = meta[matmul_meta::kTransA] != 0;
  key.v[kTransB] = meta[matmul_meta::kTransB] != 0;
  key.v[kTypeAB] = static_cast<int64_t>(tab);
  key.v[kTypeC] = static_cast<int64_t>(tc);
  key.v[kBias] = bias != nullptr;
  key.v[kAccumulate] = meta[matmul_meta::kAccumulate] != 0;
  key.v[kThreads] = omp_get_max_threads();
  key.v[kPadA] = meta[matmul_meta::kPadA] != 0;
  key.v[kPadB] = meta[matmul_meta::kPadB] != 0;
  const bool runtime = key.v[kM] == kRuntime || key.v[kN] == kRuntime || key.v[kK] == kRuntime;
  // A padded operand's stored rows must have a fixed length (its row count may vary: an expert's rows).
  args.require(!key.v[kPadA] || (key.v[kTransA] ? key.v[kM] : key.v[kK]) != kRuntime,
               "padA needs A's stored rows of a fixed length (not a runtime %s)", key.v[kTransA] ? "M" : "K");
  args.require(!key.v[kPadB] || (key.v[kTransB] ? key.v[kK] : key.v[kN]) != kRuntime,
               "padB needs B's stored rows of a fixed length (not a runtime %s)", key.v[kTransB] ? "K" : "N");

  thread_local PrimitiveCache<kFields, MatmulPrimitive> cache;
  onednn_call(args, args.op(), [&] {
    MatmulPrimitive& p = cache.get(key, [&] { return make(key); });
    if (runtime) {
      // This call's extents: the memories the primitive runs on are described with them.
      PrimitiveKey<kFields> call = key;
      call.v[kM] = meta[matmul_meta::kM];
      call.v[kN] = meta[matmul_meta::kN];
      call.v[kK] = meta[matmul_meta::kK];
      const OperandDescs md = operand_descs(call);
      auto& engine = cpu_engine();
      p.a = memory(md.a, engine, nullptr);
      p.b = memory(md.b, engine, nullptr);
      p.c = memory(md.c, engine, nullptr);
      if (bias) p.bias = memory(md.bias, engine, nullptr);
    }
    const int64_t m = meta[matmul_meta::kM], n = meta[matmul_meta::kN], k = meta[matmul_meta::kK];
    const size_t size = dtype_size(tab);
    // A stored row holds m (transposed) or k elements of A, n or k (transposed) of B.
    void* a_data = key.v[kPadA]
                       ? padded_copy(a.data, key.v[kBatchA] * (key.v[kTransA] ? k : m), key.v[kTransA] ? m : k, size, 0)
                       : a.data;
    void* b_data = key.v[kPadB]
                       ? padded_copy(b.data, key.v[kBatchB] * (key.v[kTransB] ? n : k), key.v[kTransB] ? k : n, size, 1)
                       : b.data;
    args.require(a_data != nullptr && b_data != nullptr, "out of memory for a padded copy of an operand");
    p.a.set_data_handle(a_data);
    p.b.set_data_handle(b_data);
    p.c.set_data_handle(c.data);
    p.scratch.set_data_handle(scratchpad(p.scratch_bytes));
    std::unordered_map<int, memory> io{
        {DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}, {DNNL_ARG_SCRATCHPAD, p.scratch}};
    if (bias) {
      p.bias.set_data_handle(bias->data);
      io.emplace(DNNL_ARG_BIAS, p.bias);
    }
    p.prim.execute(cpu_stream(), io);
    cpu_stream().wait();
    return 0;
  });
}

// The operands of matmul(a, b, c, bias|null, dtypeAB, dtypeC, meta, ...) with meta as in
// meta_fields.h, checked; c is the array at index 2.
struct MatmulOperands {
  View a, b, c, bias;
  bool has_bias;
  DType tab, tc;
  const int32_t* meta;
  int64_t c_numel;
};

MatmulOperands read_operands(const Args& args) {
  MatmulOperands o;
  o.tab = args.float_dtype(4, "dtypeAB");
  o.tc = args.float_dtype(5, "dtypeC");
  o.meta = args.ints(6, "meta", matmul_meta::kMeta);
  const int32_t* meta = o.meta;
  const int64_t batch_a = meta[matmul_meta::kBatchA], batch_b = meta[matmul_meta::kBatchB];
  const int64_t m = meta[matmul_meta::kM], n = meta[matmul_meta::kN], k = meta[matmul_meta::kK];
  args.require(batch_a >= 1 && batch_b >= 1 && m >= 1 && n >= 1 && k >= 1,
               "batch, M, N and K must be positive, got batch %lld/%lld, M %lld, N %lld, K %lld",
               static_cast<long long>(batch_a), static_cast<long long>(batch_b), static_cast<long long>(m),
               static_cast<long long>(n), static_cast<long long>(k));
  args.require(batch_a == batch_b || batch_a == 1 || batch_b == 1, "batch sizes %lld and %lld do not broadcast",
               static_cast<long long>(batch_a), static_cast<long long>(batch_b));
  const int64_t batch = std::max(batch_a, batch_b);
  o.a = args.tensor(0, "a", o.tab, batch_a * m * k);
  o.b = args.tensor(1, "b", o.tab, batch_b * k * n);
  o.c_numel = batch * m * n;
  o.c = args.tensor(2, "c", o.tc, o.c_numel);
  o.has_bias = !args.is_null(3);
  o.bias = o.has_bias ? args.tensor(3, "bias", DType::F32, n) : View{};
  return o;
}

// matmul(a, b, c, bias|null, dtypeAB, dtypeC, meta) with meta as in meta_fields.h
Napi::Value MatmulKernel(const Napi::CallbackInfo& info) {
  Args args(info, "matmul", 7);
  MatmulOperands o = read_operands(args);
  run_matmul(args, o.a, o.b, o.c, o.has_bias ? &o.bias : nullptr, o.tab, o.tc, o.meta);
  return info.Env().Undefined();
}

// matmulGelu(a, b, c, bias|null, dtypeAB, dtypeC, meta, preActivation|null): c = gelu(op(a)·op(b)
// + bias); preActivation, when given (of dtypeC, c's size), receives the product before GELU.
Napi::Value MatmulGeluKernel(const Napi::CallbackInfo& info) {
  Args args(info, "matmulGelu", 8);
  MatmulOperands o = read_operands(args);
  args.require(o.meta[matmul_meta::kAccumulate] == 0, "accumulate must be 0: GELU of a sum into c is not a product");
  const View pre = args.is_null(7) ? o.c : args.tensor(7, "preActivation", o.tc, o.c_numel);
  run_matmul(args, o.a, o.b, pre, o.has_bias ? &o.bias : nullptr, o.tab, o.tc, o.meta);
  dispatch_float(o.tc, [&](auto tag) {
    using T = decltype(tag);
    gelu_pass(pre.as<T>(), o.c.as<T>(), o.c_numel);
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(matmul, MatmulKernel);
TURBINE_KERNEL(matmulGelu, MatmulGeluKernel);

}  // namespace turbine
