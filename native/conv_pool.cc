// A few-channel convolution fused with the 2×2, stride-2 max pooling after it (F.max_pool2d(
// F.conv2d(x, w, b), 2) in channels-last f32): the kernels of conv_few_channels.cc.
#include "args.h"
#include "conv_few_channels.h"
#include "conv_shape.h"
#include "registry.h"

namespace turbine {
namespace {

using namespace conv_meta;

// What both fused kernels read first: the convolution (meta, argument 5), which the direct
// kernels must take, the pooled output's element count, and x (argument 0).
struct FusedCall {
  ConvShape s;
  ConvGeometry g;
  int64_t pooled_numel;
  const float* x;
};

FusedCall read_call(const Args& args) {
  FusedCall call{read_shape(args, 5), {}, 0, nullptr};
  const ConvShape& s = call.s;
  args.require(direct_few_channels(s, DType::F32, call.g),
               "needs a float32 channels-last convolution without groups, with at most %lld input channels and 16, 32, "
               "48 or 64 output channels: %s",
               static_cast<long long>(kFewChannels), shapes_text(s.v).c_str());
  args.require(s.oh >= 2 && s.ow >= 2, "the convolution's output %lldx%lld is smaller than the 2x2 pooling window",
               static_cast<long long>(s.oh), static_cast<long long>(s.ow));
  call.pooled_numel = checked_numel(args, "pooled", {s[kN], s.oh / 2, s.ow / 2, s[kO]});
  call.x = args.tensor(0, "x", DType::F32, s.x_numel).as<float>();
  return call;
}

// conv2dDirectFits(dtype, meta): whether conv2dMaxPool takes this convolution of dtype operands.
Napi::Value Conv2dDirectFitsKernel(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dDirectFits", 2);
  const DType type = args.float_dtype(0, "dtype");
  const ConvShape s = read_shape(args, 1);
  ConvGeometry g;
  return Napi::Boolean::New(info.Env(), direct_few_channels(s, type, g) && s.oh >= 2 && s.ow >= 2);
}

// conv2dMaxPool(x, w, bias|null, pooled, codes|null, meta): pooled = max_pool2d(conv2d(x, w) + bias, 2)
// and, where given, codes = each maximum's window position (0..3, row by row).
Napi::Value Conv2dMaxPoolKernel(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dMaxPool", 6);
  const FusedCall c = read_call(args);
  View w = args.tensor(1, "weight", DType::F32, c.s.w_numel);
  const float* bias = args.is_null(2) ? nullptr : args.tensor(2, "bias", DType::F32, c.s[kO]).as<float>();
  View pooled = args.tensor(3, "pooled", DType::F32, c.pooled_numel);
  int32_t* codes = args.is_null(4) ? nullptr : args.tensor(4, "codes", DType::I32, c.pooled_numel).as<int32_t>();
  if (c.s[kN] > 0) few_channels_forward_max_pool(c.g, c.x, w.as<float>(), bias, pooled.as<float>(), codes);
  return info.Env().Undefined();
}

// conv2dMaxPoolBackwardWeights(x, dpooled, codes, dw, dbias|null, meta): dw and dbias overwritten.
Napi::Value Conv2dMaxPoolBackwardWeightsKernel(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dMaxPoolBackwardWeights", 6);
  const FusedCall c = read_call(args);
  View dpooled = args.tensor(1, "dpooled", DType::F32, c.pooled_numel);
  View codes = args.tensor(2, "codes", DType::I32, c.pooled_numel);
  View dw = args.tensor(3, "dw", DType::F32, c.s.w_numel);
  float* dbias = args.is_null(4) ? nullptr : args.tensor(4, "dbias", DType::F32, c.s[kO]).as<float>();
  // codes are only compared with 0..3: a wrong one drops a gradient but reads nothing out of bounds.
  few_channels_backward_weights_max_pool(c.g, c.x, dpooled.as<float>(), codes.as<int32_t>(), dw.as<float>(), dbias);
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(conv2dDirectFits, Conv2dDirectFitsKernel);
TURBINE_KERNEL(conv2dMaxPool, Conv2dMaxPoolKernel);
TURBINE_KERNEL(conv2dMaxPoolBackwardWeights, Conv2dMaxPoolBackwardWeightsKernel);

}  // namespace turbine
