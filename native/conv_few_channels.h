// Direct f32 convolution over channels-last (NHWC) images with few input channels: a network's
// first layer on grayscale or RGB input. oneDNN's kernels are built for many channels: on the
// cnn's first layer (1 → 32 channels, 3×3, batch 128) its forward ran at ~70 GFLOP/s, and its
// backward-weights reordered the 11 MB output gradient to a blocked layout first (1.1 ms of a
// ~1.4 ms call). Here an output pixel's channels are one to four registers, each tap one
// broadcast and one multiply-add per register, and the output gradient is read where it lies.
#pragma once
#include <cstdint>

namespace turbine {

// The geometry of one convolution; dilation counts like PyTorch's (1: adjacent taps).
struct ConvGeometry {
  int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
};

// Whether the direct kernels take this convolution (f32, NHWC and ungrouped checked by the
// caller): at most kFewChannels input channels and the output channels a multiple of 16, at most 64.
constexpr int64_t kFewChannels = 4;
bool few_channels_fits(const ConvGeometry& g);

// y [N, OH, OW, O] = conv(x [N, H, W, C], weight [O, C, kh, kw]) + bias (bias may be null).
void few_channels_forward(const ConvGeometry& g, const float* x, const float* weight, const float* bias, float* y);

// dweight [O, C, kh, kw] and dbias [O] (may be null), overwritten, from x and dy [N, OH, OW, O].
void few_channels_backward_weights(const ConvGeometry& g, const float* x, const float* dy, float* dweight,
                                   float* dbias);

// The convolution followed by 2×2, stride-2 max pooling, in one pass: the convolution's output
// [N, OH, OW, O] never goes to memory. pooled [N, OH/2, OW/2, O] (floor); codes (may be null),
// the same shape, gets each maximum's window position: 0, 1 (top row), 2, 3 (bottom row).
void few_channels_forward_max_pool(const ConvGeometry& g, const float* x, const float* weight, const float* bias,
                                   float* pooled, int32_t* codes);

// dweight and dbias (may be null), overwritten, of the pooled convolution from x, the pooled
// output's gradient dpooled and the forward's codes.
void few_channels_backward_weights_max_pool(const ConvGeometry& g, const float* x, const float* dpooled,
                                            const int32_t* codes, float* dweight, float* dbias);

}  // namespace turbine
