// 2-D convolution on oneDNN: forward (optional f32 bias), backward-data, and backward-weights
// (with the bias gradient) over NCHW activations and OIHW weights (GOIHW when grouped). f32, or
// bf16 operands with f32 accumulation. oneDNN runs on the plain user layouts directly (its
// im2col + GEMM implementations); its blocked direct kernels would need reorders in and out.
#include <omp.h>

#include <cstring>

#include "args.h"
#include "numel.h"
#include "onednn.h"
#include "registry.h"

namespace turbine {
namespace {

using dnnl::memory;

// meta = [N, C, H, W, O, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, groups]
enum Field { kN, kC, kH, kW, kO, kKh, kKw, kSh, kSw, kPh, kPw, kDh, kDw, kGroups, kMeta = kGroups + 1 };
// The cache key: the geometry and output size, the dtypes and options, the thread count.
enum KeyField { kOh = kMeta, kOw, kType, kWeightsGradType, kBias, kThreads, kFields };
using Key = PrimitiveKey<kFields>;

struct ConvShape {
  int64_t v[kMeta];
  int64_t oh, ow;
  int64_t x_numel, w_numel, y_numel;
  int64_t operator[](Field f) const { return v[f]; }
};

std::string shapes_text(const int64_t* v) {
  char text[256];
  std::snprintf(text, sizeof text, "input [%lld, %lld, %lld, %lld], weight [%lld, C/groups, %lld, %lld], groups %lld",
                static_cast<long long>(v[kN]), static_cast<long long>(v[kC]), static_cast<long long>(v[kH]),
                static_cast<long long>(v[kW]), static_cast<long long>(v[kO]), static_cast<long long>(v[kKh]),
                static_cast<long long>(v[kKw]), static_cast<long long>(v[kGroups]));
  return text;
}

// One spatial axis: H_out = floor((H + 2p − d(k−1) − 1)/s) + 1, which must be at least 1.
int64_t output_extent(const Args& args, const char* axis, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d,
                      const std::string& shapes) {
  const int64_t span = d * (k - 1) + 1;
  args.require(in + 2 * p >= span, "kernel %s extent %lld (dilation %lld) exceeds the padded input %s %lld (padding %lld); %s",
               axis, static_cast<long long>(span), static_cast<long long>(d), axis, static_cast<long long>(in + 2 * p),
               static_cast<long long>(p), shapes.c_str());
  return (in + 2 * p - span) / s + 1;
}

ConvShape read_shape(const Args& args, size_t i) {
  const int32_t* meta = args.ints(i, "meta", kMeta);
  ConvShape s{};
  for (int f = 0; f < kMeta; f++) s.v[f] = meta[f];
  const std::string shapes = shapes_text(s.v);
  args.require(s[kN] >= 0 && s[kC] >= 1 && s[kH] >= 1 && s[kW] >= 1 && s[kO] >= 1 && s[kKh] >= 1 && s[kKw] >= 1,
               "sizes must be positive (N may be 0): %s", shapes.c_str());
  args.require(s[kGroups] >= 1 && s[kC] % s[kGroups] == 0 && s[kO] % s[kGroups] == 0,
               "groups must divide the input channels and the output channels: %s", shapes.c_str());
  args.require(s[kSh] >= 1 && s[kSw] >= 1 && s[kDh] >= 1 && s[kDw] >= 1 && s[kPh] >= 0 && s[kPw] >= 0,
               "stride [%lld, %lld] and dilation [%lld, %lld] must be positive, padding [%lld, %lld] non-negative",
               static_cast<long long>(s[kSh]), static_cast<long long>(s[kSw]), static_cast<long long>(s[kDh]),
               static_cast<long long>(s[kDw]), static_cast<long long>(s[kPh]), static_cast<long long>(s[kPw]));
  s.oh = output_extent(args, "H", s[kH], s[kKh], s[kSh], s[kPh], s[kDh], shapes);
  s.ow = output_extent(args, "W", s[kW], s[kKw], s[kSw], s[kPw], s[kDw], shapes);
  s.x_numel = checked_numel(args, "x", {s[kN], s[kC], s[kH], s[kW]});
  s.w_numel = checked_numel(args, "weight", {s[kO], s[kC] / s[kGroups], s[kKh], s[kKw]});
  s.y_numel = checked_numel(args, "y", {s[kN], s[kO], s.oh, s.ow});
  return s;
}

DType conv_dtype(const Args& args, size_t i, const char* name) {
  DType d = args.float_dtype(i, name);
  args.require(d == DType::F32 || d == DType::BF16, "'%s' must be float32 or bfloat16 (oneDNN has no %s convolution on CPU)",
               name, dtype_name(d));
  return d;
}

Key make_key(const ConvShape& s, DType type, DType weights_grad_type, bool bias) {
  Key key;
  for (int f = 0; f < kMeta; f++) key.v[f] = s.v[f];
  key.v[kOh] = s.oh;
  key.v[kOw] = s.ow;
  key.v[kType] = static_cast<int64_t>(type);
  key.v[kWeightsGradType] = static_cast<int64_t>(weights_grad_type);
  key.v[kBias] = bias;
  key.v[kThreads] = omp_get_max_threads();
  return key;
}

// The memory descriptors and window of one convolution, all in plain layouts.
struct ConvDescs {
  memory::desc x, w, dw, bias, y;
  memory::dims strides, dilates, padding;
};

ConvDescs descs(const Key& key) {
  const auto& v = key.v;
  const auto type = onednn_type(static_cast<DType>(v[kType]));
  const auto wgrad_type = onednn_type(static_cast<DType>(v[kWeightsGradType]));
  const int64_t g = v[kGroups];
  // Grouped weights [O, C/g, kh, kw] are the same bytes as goihw [g, O/g, C/g, kh, kw].
  const memory::dims wdims = g > 1 ? memory::dims{g, v[kO] / g, v[kC] / g, v[kKh], v[kKw]}
                                   : memory::dims{v[kO], v[kC], v[kKh], v[kKw]};
  const auto wtag = g > 1 ? memory::format_tag::goihw : memory::format_tag::oihw;
  return ConvDescs{memory::desc({v[kN], v[kC], v[kH], v[kW]}, type, memory::format_tag::nchw),
                   memory::desc(wdims, type, wtag),
                   memory::desc(wdims, wgrad_type, wtag),
                   v[kBias] ? memory::desc({v[kO]}, memory::data_type::f32, memory::format_tag::a) : memory::desc(),
                   memory::desc({v[kN], v[kO], v[kOh], v[kOw]}, type, memory::format_tag::nchw),
                   {v[kSh], v[kSw]},
                   {v[kDh] - 1, v[kDw] - 1},  // oneDNN counts the gaps between taps
                   {v[kPh], v[kPw]}};
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::convolution_forward::primitive_desc forward_pd(const ConvDescs& d) {
  // The symmetric right padding reaches at least as far as the last window: oneDNN checks
  // the output size with the same floor division PyTorch uses.
  dnnl::convolution_forward::desc desc =
      !d.bias.is_zero()
          ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.x, d.w,
                                            d.bias, d.y, d.strides, d.dilates, d.padding, d.padding)
          : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.x, d.w,
                                            d.y, d.strides, d.dilates, d.padding, d.padding);
  return dnnl::convolution_forward::primitive_desc(desc, user_scratchpad(), cpu_engine());
}

// Memory objects are made without data and get their handles per call. An absent bias gives an
// empty one; the scratchpad always gets a real one, since every call binds it, even at 0 bytes.
memory unbound(const memory::desc& md) { return !md.is_zero() ? memory(md, cpu_engine(), nullptr) : memory(); }
memory scratch_memory(const memory::desc& md) { return memory(md, cpu_engine(), nullptr); }

struct ForwardPrimitive {
  dnnl::convolution_forward prim;
  memory x, w, bias, y, scratch;
  size_t scratch_bytes;
};

ForwardPrimitive make_forward(const Key& key) {
  const ConvDescs d = descs(key);
  auto pd = forward_pd(d);
  return {dnnl::convolution_forward(pd), unbound(d.x), unbound(d.w), unbound(d.bias), unbound(d.y),
          scratch_memory(pd.scratchpad_desc()), pd.scratchpad_desc().get_size()};
}

struct BackwardDataPrimitive {
  dnnl::convolution_backward_data prim;
  memory dy, w, dx, scratch;
  size_t scratch_bytes;
};

BackwardDataPrimitive make_backward_data(const Key& key) {
  const ConvDescs d = descs(key);
  dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.x, d.w, d.y, d.strides, d.dilates,
                                             d.padding, d.padding);
  dnnl::convolution_backward_data::primitive_desc pd(desc, user_scratchpad(), cpu_engine(), forward_pd(d));
  return {dnnl::convolution_backward_data(pd), unbound(d.y), unbound(d.w), unbound(d.x), scratch_memory(pd.scratchpad_desc()),
          pd.scratchpad_desc().get_size()};
}

struct BackwardWeightsPrimitive {
  dnnl::convolution_backward_weights prim;
  memory x, dy, dw, dbias, scratch;
  size_t scratch_bytes;
};

BackwardWeightsPrimitive make_backward_weights(const Key& key) {
  const ConvDescs d = descs(key);
  dnnl::convolution_backward_weights::desc desc =
      !d.bias.is_zero()
          ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, d.x, d.dw, d.bias, d.y, d.strides,
                                                     d.dilates, d.padding, d.padding)
          : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, d.x, d.dw, d.y, d.strides,
                                                     d.dilates, d.padding, d.padding);
  dnnl::convolution_backward_weights::primitive_desc pd(desc, user_scratchpad(), cpu_engine(), forward_pd(d));
  return {dnnl::convolution_backward_weights(pd), unbound(d.x), unbound(d.y), unbound(d.dw), unbound(d.bias),
          scratch_memory(pd.scratchpad_desc()), pd.scratchpad_desc().get_size()};
}

void run(dnnl::primitive& prim, memory& scratch, size_t scratch_bytes, std::unordered_map<int, memory>&& io) {
  scratch.set_data_handle(scratchpad(scratch_bytes));
  io.emplace(DNNL_ARG_SCRATCHPAD, scratch);
  prim.execute(cpu_stream(), io);
  cpu_stream().wait();
}

// conv2d(x, w, bias|null, y, dtype, meta): y = conv(x, w) + bias
Napi::Value Conv2dKernel(const Napi::CallbackInfo& info) {
  Args args(info, "conv2d", 6);
  const DType type = conv_dtype(args, 4, "dtype");
  const ConvShape s = read_shape(args, 5);
  View x = args.tensor(0, "x", type, s.x_numel);
  View w = args.tensor(1, "weight", type, s.w_numel);
  const bool has_bias = !args.is_null(2);
  View bias = has_bias ? args.tensor(2, "bias", DType::F32, s[kO]) : View{};
  View y = args.tensor(3, "y", type, s.y_numel);
  if (s[kN] == 0) return info.Env().Undefined();

  thread_local PrimitiveCache<kFields, ForwardPrimitive> cache;
  const Key key = make_key(s, type, type, has_bias);
  onednn_call(args, "conv2d forward", [&] {
    ForwardPrimitive& p = cache.get(key, [&] { return make_forward(key); });
    p.x.set_data_handle(x.data);
    p.w.set_data_handle(w.data);
    p.y.set_data_handle(y.data);
    std::unordered_map<int, memory> io{{DNNL_ARG_SRC, p.x}, {DNNL_ARG_WEIGHTS, p.w}, {DNNL_ARG_DST, p.y}};
    if (has_bias) {
      p.bias.set_data_handle(bias.data);
      io.emplace(DNNL_ARG_BIAS, p.bias);
    }
    run(p.prim, p.scratch, p.scratch_bytes, std::move(io));
    return 0;
  });
  return info.Env().Undefined();
}

// conv2dBackwardData(dy, w, dx, dtype, meta): dx = the input gradient (overwritten)
Napi::Value Conv2dBackwardDataKernel(const Napi::CallbackInfo& info) {
  Args args(info, "conv2d backward-data", 5);
  const DType type = conv_dtype(args, 3, "dtype");
  const ConvShape s = read_shape(args, 4);
  View dy = args.tensor(0, "dy", type, s.y_numel);
  View w = args.tensor(1, "weight", type, s.w_numel);
  View dx = args.tensor(2, "dx", type, s.x_numel);
  if (s[kN] == 0) return info.Env().Undefined();

  thread_local PrimitiveCache<kFields, BackwardDataPrimitive> cache;
  const Key key = make_key(s, type, type, false);
  onednn_call(args, "conv2d backward-data", [&] {
    BackwardDataPrimitive& p = cache.get(key, [&] { return make_backward_data(key); });
    p.dy.set_data_handle(dy.data);
    p.w.set_data_handle(w.data);
    p.dx.set_data_handle(dx.data);
    run(p.prim, p.scratch, p.scratch_bytes, {{DNNL_ARG_DIFF_DST, p.dy}, {DNNL_ARG_WEIGHTS, p.w}, {DNNL_ARG_DIFF_SRC, p.dx}});
    return 0;
  });
  return info.Env().Undefined();
}

// conv2dBackwardWeights(x, dy, dw, dbias|null, dtype, dwDtype, meta): dw (and dbias, f32)
// overwritten; dwDtype is float32, or bfloat16 for bfloat16 operands.
Napi::Value Conv2dBackwardWeightsKernel(const Napi::CallbackInfo& info) {
  Args args(info, "conv2d backward-weights", 7);
  const DType type = conv_dtype(args, 4, "dtype");
  const DType wgrad_type = conv_dtype(args, 5, "dwDtype");
  args.require(wgrad_type == DType::F32 || wgrad_type == type, "a %s weight gradient needs %s operands, got %s",
               dtype_name(wgrad_type), dtype_name(wgrad_type), dtype_name(type));
  const ConvShape s = read_shape(args, 6);
  View x = args.tensor(0, "x", type, s.x_numel);
  View dy = args.tensor(1, "dy", type, s.y_numel);
  View dw = args.tensor(2, "dw", wgrad_type, s.w_numel);
  const bool has_bias = !args.is_null(3);
  View dbias = has_bias ? args.tensor(3, "dbias", DType::F32, s[kO]) : View{};
  if (s[kN] == 0) {  // no samples: the gradients are sums over nothing
    std::memset(dw.data, 0, dw.bytes);
    if (has_bias) std::memset(dbias.data, 0, dbias.bytes);
    return info.Env().Undefined();
  }

  thread_local PrimitiveCache<kFields, BackwardWeightsPrimitive> cache;
  const Key key = make_key(s, type, wgrad_type, has_bias);
  onednn_call(args, "conv2d backward-weights", [&] {
    BackwardWeightsPrimitive& p = cache.get(key, [&] { return make_backward_weights(key); });
    p.x.set_data_handle(x.data);
    p.dy.set_data_handle(dy.data);
    p.dw.set_data_handle(dw.data);
    std::unordered_map<int, memory> io{{DNNL_ARG_SRC, p.x}, {DNNL_ARG_DIFF_DST, p.dy}, {DNNL_ARG_DIFF_WEIGHTS, p.dw}};
    if (has_bias) {
      p.dbias.set_data_handle(dbias.data);
      io.emplace(DNNL_ARG_DIFF_BIAS, p.dbias);
    }
    run(p.prim, p.scratch, p.scratch_bytes, std::move(io));
    return 0;
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(conv2d, Conv2dKernel);
TURBINE_KERNEL(conv2dBackwardData, Conv2dBackwardDataKernel);
TURBINE_KERNEL(conv2dBackwardWeights, Conv2dBackwardWeightsKernel);

}  // namespace turbine
