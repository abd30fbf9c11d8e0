// 2-D convolution on oneDNN: forward (optional f32 bias), backward-data, and backward-weights
// (with the bias gradient) over NCHW activations and OIHW weights (GOIHW when grouped). f32, or
// bf16 operands with f32 accumulation. The primitives choose their own memory layouts (format
// `any`): on AVX-512 that is the blocked direct kernels, which with the reorders in and out of
// the user's plain layouts measured 1.7× faster here than oneDNN's im2col + GEMM on the plain
// layouts themselves (the cnn workload's two convolutions, forward and backward, one thread).
#include <omp.h>

#include <cstring>
#include <vector>

#include "args.h"
#include "conv_few_channels.h"
#include "conv_shape.h"
#include "numel.h"
#include "onednn.h"
#include "registry.h"

namespace turbine {
namespace {

using dnnl::memory;
using namespace conv_meta;

// The cache key: the geometry and output size, the dtypes and options, the thread count.
enum KeyField { kOh = kMeta, kOw, kType, kWeightsGradType, kBias, kThreads, kFields };
using Key = PrimitiveKey<kFields>;

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

// The memory descriptors and window of one convolution: the user's plain layouts, and the ones
// the primitives are created with. NCHW activations go in as `any`: the primitive picks its
// blocked layout and the operands are reordered. NHWC activations go in as they are for the
// forward and backward-data primitives, whose channels-last kernels then need no activation
// reorders; the backward-weights primitive still picks its own layouts, since its blocked
// kernel with the reorders measured up to 2.8x faster here than the channels-last one.
struct ConvDescs {
  memory::desc x, w, dw, bias, y;
  memory::desc x_any, w_any, dw_any, y_any;
  memory::dims strides, dilates, padding;
};

memory::desc any_layout(const memory::desc& md) {
  return memory::desc(md.dims(), md.data_type(), memory::format_tag::any);
}

ConvDescs descs(const Key& key) {
  const auto& v = key.v;
  const auto type = onednn_type(static_cast<DType>(v[kType]));
  const auto wgrad_type = onednn_type(static_cast<DType>(v[kWeightsGradType]));
  const int64_t g = v[kGroups];
  // Grouped weights [O, C/g, kh, kw] are the same bytes as goihw [g, O/g, C/g, kh, kw].
  const memory::dims wdims =
      g > 1 ? memory::dims{g, v[kO] / g, v[kC] / g, v[kKh], v[kKw]} : memory::dims{v[kO], v[kC], v[kKh], v[kKw]};
  const auto wtag = g > 1 ? memory::format_tag::goihw : memory::format_tag::oihw;
  const auto atag = v[kLayout] ? memory::format_tag::nhwc : memory::format_tag::nchw;
  ConvDescs d{memory::desc({v[kN], v[kC], v[kH], v[kW]}, type, atag),
              memory::desc(wdims, type, wtag),
              memory::desc(wdims, wgrad_type, wtag),
              v[kBias] ? memory::desc({v[kO]}, memory::data_type::f32, memory::format_tag::a) : memory::desc(),
              memory::desc({v[kN], v[kO], v[kOh], v[kOw]}, type, atag),
              {},
              {},
              {},
              {},
              {v[kSh], v[kSw]},
              {v[kDh] - 1, v[kDw] - 1},  // oneDNN counts the gaps between taps
              {v[kPh], v[kPw]}};
  d.x_any = v[kLayout] ? d.x : any_layout(d.x);
  d.w_any = any_layout(d.w);
  d.dw_any = any_layout(d.dw);
  d.y_any = v[kLayout] ? d.y : any_layout(d.y);
  return d;
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
          ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                            d.x_any, d.w_any, d.bias, d.y_any, d.strides, d.dilates, d.padding,
                                            d.padding)
          : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                            d.x_any, d.w_any, d.y_any, d.strides, d.dilates, d.padding, d.padding);
  return dnnl::convolution_forward::primitive_desc(desc, user_scratchpad(), cpu_engine());
}

// Memory objects are made without data and get their handles per call. An absent bias gives an
// empty one; the scratchpad always gets a real one, since every call binds it, even at 0 bytes.
memory unbound(const memory::desc& md) { return !md.is_zero() ? memory(md, cpu_engine(), nullptr) : memory(); }

// One operand of a primitive: the user's memory in its plain layout and, when the primitive
// chose another layout, a buffer in that layout with the reorder between the two (into the
// buffer for an input, out of it for an output).
struct Operand {
  int arg = 0;
  bool input = true;
  memory user, inner;
  dnnl::reorder reorder;
  size_t bytes = 0;  // of the inner buffer, when reordered
};

Operand operand(int arg, bool input, const memory::desc& user_md, const memory::desc& wanted) {
  Operand o;
  o.arg = arg;
  o.input = input;
  o.user = unbound(user_md);
  if (user_md.is_zero() || wanted == user_md) {
    o.inner = o.user;
    return o;
  }
  o.inner = memory(wanted, cpu_engine(), nullptr);
  o.bytes = wanted.get_size();
  o.reorder = input ? dnnl::reorder(o.user, o.inner) : dnnl::reorder(o.inner, o.user);
  return o;
}

// A primitive with its operands and scratchpad.
struct ConvPrimitive {
  dnnl::primitive prim;
  std::vector<Operand> operands;
  memory scratch;
  size_t scratch_bytes = 0;
};

template <typename PD>
ConvPrimitive assemble(dnnl::primitive prim, const PD& pd, std::vector<Operand> operands) {
  return ConvPrimitive{std::move(prim), std::move(operands), memory(pd.scratchpad_desc(), cpu_engine(), nullptr),
                       pd.scratchpad_desc().get_size()};
}

ConvPrimitive make_forward(const Key& key) {
  const ConvDescs d = descs(key);
  auto pd = forward_pd(d);
  return assemble(
      dnnl::convolution_forward(pd), pd,
      {operand(DNNL_ARG_SRC, true, d.x, pd.src_desc()), operand(DNNL_ARG_WEIGHTS, true, d.w, pd.weights_desc()),
       operand(DNNL_ARG_BIAS, true, d.bias, d.bias), operand(DNNL_ARG_DST, false, d.y, pd.dst_desc())});
}

ConvPrimitive make_backward_data(const Key& key) {
  const ConvDescs d = descs(key);
  dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.x_any, d.w_any, d.y_any, d.strides,
                                             d.dilates, d.padding, d.padding);
  dnnl::convolution_backward_data::primitive_desc pd(desc, user_scratchpad(), cpu_engine(), forward_pd(d));
  return assemble(dnnl::convolution_backward_data(pd), pd,
                  {operand(DNNL_ARG_DIFF_DST, true, d.y, pd.diff_dst_desc()),
                   operand(DNNL_ARG_WEIGHTS, true, d.w, pd.weights_desc()),
                   operand(DNNL_ARG_DIFF_SRC, false, d.x, pd.diff_src_desc())});
}

ConvPrimitive make_backward_weights(const Key& key) {
  const ConvDescs d = descs(key);
  dnnl::convolution_backward_weights::desc desc =
      !d.bias.is_zero()
          ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, any_layout(d.x), d.dw_any,
                                                     d.bias, any_layout(d.y), d.strides, d.dilates, d.padding,
                                                     d.padding)
          : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, any_layout(d.x), d.dw_any,
                                                     any_layout(d.y), d.strides, d.dilates, d.padding, d.padding);
  dnnl::convolution_backward_weights::primitive_desc pd(desc, user_scratchpad(), cpu_engine(), forward_pd(d));
  return assemble(
      dnnl::convolution_backward_weights(pd), pd,
      {operand(DNNL_ARG_SRC, true, d.x, pd.src_desc()), operand(DNNL_ARG_DIFF_DST, true, d.y, pd.diff_dst_desc()),
       operand(DNNL_ARG_DIFF_WEIGHTS, false, d.dw, pd.diff_weights_desc()),
       operand(DNNL_ARG_DIFF_BIAS, false, d.bias, d.bias)});
}

constexpr size_t aligned(size_t bytes) { return (bytes + 63) & ~static_cast<size_t>(63); }

// Binds the user's buffers (in the operands' order; null for an absent bias), carves the
// primitive's scratchpad and the reordered operands from this thread's scratch arena, and runs
// the input reorders, the primitive and the output reorders.
void run(ConvPrimitive& p, std::initializer_list<void*> data) {
  size_t total = aligned(p.scratch_bytes);
  for (const Operand& o : p.operands) total += aligned(o.bytes);
  char* arena = static_cast<char*>(scratchpad(total));
  p.scratch.set_data_handle(arena);
  size_t at = aligned(p.scratch_bytes);
  std::unordered_map<int, memory> io{{DNNL_ARG_SCRATCHPAD, p.scratch}};
  auto& stream = cpu_stream();
  auto next = data.begin();
  for (Operand& o : p.operands) {
    void* user = *next++;
    if (!user) continue;
    o.user.set_data_handle(user);
    if (o.bytes > 0) {
      o.inner.set_data_handle(arena + at);
      at += aligned(o.bytes);
      if (o.input) o.reorder.execute(stream, o.user, o.inner);
    }
    io.emplace(o.arg, o.inner);
  }
  p.prim.execute(stream, io);
  for (Operand& o : p.operands)
    if (o.bytes > 0 && !o.input) o.reorder.execute(stream, o.inner, o.user);
  stream.wait();
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
  ConvGeometry g;
  if (direct_few_channels(s, type, g)) {
    few_channels_forward(g, x.as<float>(), w.as<float>(), has_bias ? bias.as<float>() : nullptr, y.as<float>());
    return info.Env().Undefined();
  }

  thread_local PrimitiveCache<kFields, ConvPrimitive> cache;
  const Key key = make_key(s, type, type, has_bias);
  onednn_call(args, "conv2d forward", [&] {
    run(cache.get(key, [&] { return make_forward(key); }), {x.data, w.data, has_bias ? bias.data : nullptr, y.data});
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

  thread_local PrimitiveCache<kFields, ConvPrimitive> cache;
  const Key key = make_key(s, type, type, false);
  onednn_call(args, "conv2d backward-data", [&] {
    run(cache.get(key, [&] { return make_backward_data(key); }), {dy.data, w.data, dx.data});
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
  ConvGeometry g;
  if (wgrad_type == DType::F32 && direct_few_channels(s, type, g)) {
    few_channels_backward_weights(g, x.as<float>(), dy.as<float>(), dw.as<float>(),
                                  has_bias ? dbias.as<float>() : nullptr);
    return info.Env().Undefined();
  }

  thread_local PrimitiveCache<kFields, ConvPrimitive> cache;
  const Key key = make_key(s, type, wgrad_type, has_bias);
  onednn_call(args, "conv2d backward-weights", [&] {
    run(cache.get(key, [&] { return make_backward_weights(key); }),
        {x.data, dy.data, dw.data, has_bias ? dbias.data : nullptr});
    return 0;
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(conv2d, Conv2dKernel);
TURBINE_KERNEL(conv2dBackwardData, Conv2dBackwardDataKernel);
TURBINE_KERNEL(conv2dBackwardWeights, Conv2dBackwardWeightsKernel);

}  // namespace turbine
