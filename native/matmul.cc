// Batched matmul on oneDNN: C[b] (+)= op(A[b]) · op(B[b]) (+ bias), either operand transposed
// through its strides (no copy), a batch of 1 broadcast against the other, f32 or bf16
// inputs with f32 accumulation, and an optional accumulate-into-C used for gradients.
#include <omp.h>

#include "args.h"
#include "meta_fields.h"
#include "onednn.h"
#include "registry.h"

namespace turbine {
namespace {

using dnnl::memory;

struct MatmulPrimitive {
  dnnl::matmul prim;
  memory a, b, c, bias, scratch;
  size_t scratch_bytes = 0;
};

enum Field { kBatchA, kBatchB, kM, kN, kK, kTransA, kTransB, kTypeAB, kTypeC, kBias, kAccumulate, kThreads, kFields };

MatmulPrimitive make(const PrimitiveKey<kFields>& key) {
  const auto& v = key.v;
  const int64_t batch = std::max(v[kBatchA], v[kBatchB]);
  const auto tab = onednn_type(static_cast<DType>(v[kTypeAB]));
  const auto tc = onednn_type(static_cast<DType>(v[kTypeC]));
  const int64_t m = v[kM], n = v[kN], k = v[kK];
  memory::desc a_md({v[kBatchA], m, k}, tab, v[kTransA] ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
  memory::desc b_md({v[kBatchB], k, n}, tab, v[kTransB] ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
  memory::desc c_md({batch, m, n}, tc, memory::dims{m * n, n, 1});
  memory::desc bias_md =
      v[kBias] ? memory::desc({1, 1, n}, memory::data_type::f32, memory::dims{n, n, 1}) : memory::desc();
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (v[kAccumulate]) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  auto& engine = cpu_engine();
  dnnl::matmul::desc desc =
      v[kBias] ? dnnl::matmul::desc(a_md, b_md, bias_md, c_md) : dnnl::matmul::desc(a_md, b_md, c_md);
  dnnl::matmul::primitive_desc pd(desc, attr, engine);
  MatmulPrimitive p{dnnl::matmul(pd),
                    memory(a_md, engine, nullptr),
                    memory(b_md, engine, nullptr),
                    memory(c_md, engine, nullptr),
                    v[kBias] ? memory(bias_md, engine, nullptr) : memory(),
                    memory(pd.scratchpad_desc(), engine, nullptr),
                    pd.scratchpad_desc().get_size()};
  return p;
}

// matmul(a, b, c, bias|null, dtypeAB, dtypeC, meta) with meta as in meta_fields.h
Napi::Value MatmulKernel(const Napi::CallbackInfo& info) {
  Args args(info, "matmul", 7);
  DType tab = args.float_dtype(4, "dtypeAB");
  DType tc = args.float_dtype(5, "dtypeC");
  const int32_t* meta = args.ints(6, "meta", matmul_meta::kMeta);
  const int64_t batch_a = meta[matmul_meta::kBatchA], batch_b = meta[matmul_meta::kBatchB];
  const int64_t m = meta[matmul_meta::kM], n = meta[matmul_meta::kN], k = meta[matmul_meta::kK];
  args.require(batch_a >= 1 && batch_b >= 1 && m >= 1 && n >= 1 && k >= 1,
               "batch, M, N and K must be positive, got batch %lld/%lld, M %lld, N %lld, K %lld",
               static_cast<long long>(batch_a), static_cast<long long>(batch_b), static_cast<long long>(m),
               static_cast<long long>(n), static_cast<long long>(k));
  args.require(batch_a == batch_b || batch_a == 1 || batch_b == 1, "batch sizes %lld and %lld do not broadcast",
               static_cast<long long>(batch_a), static_cast<long long>(batch_b));
  const int64_t batch = std::max(batch_a, batch_b);
  View a = args.tensor(0, "a", tab, batch_a * m * k);
  View b = args.tensor(1, "b", tab, batch_b * k * n);
  View c = args.tensor(2, "c", tc, batch * m * n);
  const bool has_bias = !args.is_null(3);
  View bias = has_bias ? args.tensor(3, "bias", DType::F32, n) : View{};

  PrimitiveKey<kFields> key;
  key.v[kBatchA] = batch_a;
  key.v[kBatchB] = batch_b;
  key.v[kM] = m;
  key.v[kN] = n;
  key.v[kK] = k;
  key.v[kTransA] = meta[matmul_meta::kTransA] != 0;
  key.v[kTransB] = meta[matmul_meta::kTransB] != 0;
  key.v[kTypeAB] = static_cast<int64_t>(tab);
  key.v[kTypeC] = static_cast<int64_t>(tc);
  key.v[kBias] = has_bias;
  key.v[kAccumulate] = meta[matmul_meta::kAccumulate] != 0;
  key.v[kThreads] = omp_get_max_threads();

  thread_local PrimitiveCache<kFields, MatmulPrimitive> cache;
  onednn_call(args, "matmul", [&] {
    MatmulPrimitive& p = cache.get(key, [&] { return make(key); });
    p.a.set_data_handle(a.data);
    p.b.set_data_handle(b.data);
    p.c.set_data_handle(c.data);
    p.scratch.set_data_handle(scratchpad(p.scratch_bytes));
    std::unordered_map<int, memory> io{
        {DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}, {DNNL_ARG_SCRATCHPAD, p.scratch}};
    if (has_bias) {
      p.bias.set_data_handle(bias.data);
      io.emplace(DNNL_ARG_BIAS, p.bias);
    }
    p.prim.execute(cpu_stream(), io);
    cpu_stream().wait();
    return 0;
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(matmul, MatmulKernel);

}  // namespace turbine
