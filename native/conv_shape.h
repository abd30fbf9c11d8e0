// The meta array of a 2-D convolution (conv2d and its gradients, conv.cc; the convolution fused
// with pooling, conv_pool.cc): reading and checking it, and the output size it gives.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "args.h"
#include "conv_few_channels.h"
#include "dtype.h"
#include "meta_fields.h"
#include "numel.h"

namespace turbine::conv_meta {

// The meta's fields (Field, kMeta) are listed in meta_fields.h.

struct ConvShape {
  int64_t v[kMeta];
  int64_t oh, ow;
  int64_t x_numel, w_numel, y_numel;
  int64_t operator[](Field f) const { return v[f]; }
};

inline std::string shapes_text(const int64_t* v) {
  char text[256];
  std::snprintf(text, sizeof text, "input [%lld, %lld, %lld, %lld], weight [%lld, C/groups, %lld, %lld], groups %lld",
                static_cast<long long>(v[kN]), static_cast<long long>(v[kC]), static_cast<long long>(v[kH]),
                static_cast<long long>(v[kW]), static_cast<long long>(v[kO]), static_cast<long long>(v[kKh]),
                static_cast<long long>(v[kKw]), static_cast<long long>(v[kGroups]));
  return text;
}

// One spatial axis: H_out = floor((H + 2p − d(k−1) − 1)/s) + 1, which must be at least 1.
inline int64_t output_extent(const Args& args, const char* axis, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d,
                             const std::string& shapes) {
  const int64_t span = d * (k - 1) + 1;
  args.require(in + 2 * p >= span,
               "kernel %s extent %lld (dilation %lld) exceeds the padded input %s %lld (padding %lld); %s", axis,
               static_cast<long long>(span), static_cast<long long>(d), axis, static_cast<long long>(in + 2 * p),
               static_cast<long long>(p), shapes.c_str());
  return (in + 2 * p - span) / s + 1;
}

inline ConvShape read_shape(const Args& args, size_t i) {
  const int32_t* meta = args.ints(i, "meta", kMeta);
  ConvShape s{};
  for (int f = 0; f < kMeta; f++) s.v[f] = meta[f];
  const std::string shapes = shapes_text(s.v);
  args.require(s[kN] >= 0 && s[kC] >= 1 && s[kH] >= 1 && s[kW] >= 1 && s[kO] >= 1 && s[kKh] >= 1 && s[kKw] >= 1,
               "sizes must be positive (N may be 0): %s", shapes.c_str());
  args.require(s[kLayout] == 0 || s[kLayout] == 1, "layout code must be 0 (NCHW) or 1 (NHWC), got %lld",
               static_cast<long long>(s[kLayout]));
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

inline DType conv_dtype(const Args& args, size_t i, const char* name) {
  DType d = args.float_dtype(i, name);
  args.require(d == DType::F32 || d == DType::BF16,
               "'%s' must be float32 or bfloat16 (oneDNN has no %s convolution on CPU)", name, dtype_name(d));
  return d;
}

// The direct few-channel kernels take f32 channels-last convolutions they fit; oneDNN the rest.
inline bool direct_few_channels(const ConvShape& s, DType type, ConvGeometry& g) {
  g = ConvGeometry{s[kN],  s[kC],  s[kH],  s[kW],  s[kO],  s[kKh], s[kKw], s[kSh],
                   s[kSw], s[kPh], s[kPw], s[kDh], s[kDw], s.oh,   s.ow};
  return type == DType::F32 && s[kLayout] == 1 && s[kGroups] == 1 && few_channels_fits(g);
}

}  // namespace turbine::conv_meta
