// A channels-last (NHWC), ungrouped f32 convolution as matrix products over its pixels' patches
// (a pixel's kh·kw·C input values, zeros in the padding): the forward y[pixel, O] = patch ·
// W[O, taps]ᵀ + bias, and the weight gradient dW[O, taps] = Σ over pixels of dy[pixel, O]ᵀ ·
// patch. Each thread copies the patches of a block of its pixels into a buffer that stays in its
// L2 cache and runs that block's product (one thread's sgemm); for the weight gradient into its
// own dW, the threads' sums added at the end. On Zen 3 (AVX2) oneDNN's backward-weights kernel
// reads NHWC operands only after reordering both to a blocked layout, and ran the cnn's second
// layer (32 → 64 channels, 13×13, batch 128) at ~120 GFLOP/s against ~145 for these products;
// its forward was ~13% slower than the products. Which is faster on a CPU is measured per shape
// (src/ops/conv.ts), not assumed.
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "args.h"
#include "conv_shape.h"
#include "parallel.h"
#include "registry.h"

namespace turbine {
namespace {

using namespace conv_meta;

// Pixels per block: the patch buffer (block × taps floats) and the block's dy or y fit a 512 KiB L2.
constexpr int64_t kBlockFloats = 96 * 1024;

// Copies the patches of output pixels [first, first + count) into patches [count, taps], taps
// ordered (kh, kw, c) like an NHWC window.
void copy_patches(const ConvShape& s, const float* x, int64_t first, int64_t count, float* patches) {
  const int64_t c = s[kC], taps = s[kKh] * s[kKw] * c;
  for (int64_t i = 0; i < count; i++) {
    const int64_t pixel = first + i, n = pixel / (s.oh * s.ow), oy = pixel / s.ow % s.oh, ox = pixel % s.ow;
    float* row = patches + i * taps;
    for (int64_t ky = 0; ky < s[kKh]; ky++) {
      const int64_t iy = oy * s[kSh] - s[kPh] + ky * s[kDh];
      for (int64_t kx = 0; kx < s[kKw]; kx++) {
        const int64_t ix = ox * s[kSw] - s[kPw] + kx * s[kDw];
        float* tap = row + (ky * s[kKw] + kx) * c;
        if (iy < 0 || iy >= s[kH] || ix < 0 || ix >= s[kW])
          std::memset(tap, 0, c * sizeof(float));
        else
          std::memcpy(tap, x + ((n * s[kH] + iy) * s[kW] + ix) * c, c * sizeof(float));
      }
    }
  }
}

void backward_weights(const ConvShape& s, const float* x, const float* dy, float* dw, float* dbias) {
  const int64_t o = s[kO], taps = s[kKh] * s[kKw] * s[kC], pixels = s[kN] * s.oh * s.ow;
  const int64_t block = std::max<int64_t>(1, kBlockFloats / taps), size = o * taps + o;
  // Kept per thread across calls: buffers this size are fresh pages (page faults) when allocated.
  thread_local std::vector<float> partial;
  partial.assign(static_cast<size_t>(omp_get_max_threads() * size), 0.0f);
  float* const sums = partial.data();  // the calling thread's buffer: the team's threads have their own
  // One range per thread: each range's products accumulate into that thread's dW.
  parallel_for(pixels, block, [&](int64_t begin, int64_t end) {
    float* mine = sums + omp_get_thread_num() * size;
    thread_local std::vector<float> patches;
    patches.resize(static_cast<size_t>(block * taps));
    for (int64_t first = begin; first < end; first += block) {
      const int64_t count = std::min(block, end - first);
      copy_patches(s, x, first, count, patches.data());
      // mine[O, taps] += dy[count, O]ᵀ · patches[count, taps] (oneDNN's sgemm is row-major).
      dnnl_sgemm('T', 'N', o, taps, count, 1.0f, dy + first * o, o, patches.data(), taps, 1.0f, mine, taps);
      if (dbias)
        for (int64_t i = 0; i < count; i++)
          for (int64_t j = 0; j < o; j++) mine[o * taps + j] += dy[(first + i) * o + j];
    }
  });
  const int64_t threads = static_cast<int64_t>(partial.size()) / size;
  for (int64_t t = 1; t < threads; t++)
    for (int64_t e = 0; e < size; e++) partial[e] += partial[t * size + e];
  // [O, (kh, kw, c)] to the weights' [O, C, kh, kw].
  const int64_t window = s[kKh] * s[kKw];
  for (int64_t oc = 0; oc < o; oc++) {
    for (int64_t t = 0; t < taps; t++) dw[(oc * s[kC] + t % s[kC]) * window + t / s[kC]] = partial[oc * taps + t];
    if (dbias) dbias[oc] = partial[o * taps + oc];
  }
}

void forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  const int64_t o = s[kO], c = s[kC], window = s[kKh] * s[kKw], taps = window * c, pixels = s[kN] * s.oh * s.ow;
  const int64_t block = std::max<int64_t>(1, kBlockFloats / taps);
  // The weights [O, C, kh, kw] as [O, (kh, kw, c)], the patches' order.
  thread_local std::vector<float> packed;
  packed.resize(static_cast<size_t>(o * taps));
  for (int64_t oc = 0; oc < o; oc++)
    for (int64_t t = 0; t < taps; t++) packed[oc * taps + t] = w[(oc * c + t % c) * window + t / c];
  const float* const weights = packed.data();  // the calling thread's: the team's threads have their own
  parallel_for(pixels, block, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> patches;
    patches.resize(static_cast<size_t>(block * taps));
    for (int64_t first = begin; first < end; first += block) {
      const int64_t count = std::min(block, end - first);
      copy_patches(s, x, first, count, patches.data());
      float* out = y + first * o;
      if (bias)
        for (int64_t i = 0; i < count; i++) std::memcpy(out + i * o, bias, o * sizeof(float));
      // out[count, O] (+)= patches[count, taps] · weights[O, taps]ᵀ
      dnnl_sgemm('N', 'T', count, o, taps, 1.0f, patches.data(), taps, weights, taps, bias ? 1.0f : 0.0f, out, o);
    }
  });
}

// Both kernels take float32 channels-last ungrouped convolutions only (dtype at `dtype_at`, the
// meta at `meta_at`).
ConvShape read_gemm_shape(const Args& args, size_t dtype_at, size_t meta_at) {
  const DType type = args.float_dtype(dtype_at, "dtype");
  args.require(type == DType::F32, "the products take float32 only, got %s", dtype_name(type));
  const ConvShape s = read_shape(args, meta_at);
  args.require(s[kLayout] == 1 && s[kGroups] == 1, "the products take NHWC ungrouped convolutions only");
  return s;
}

// conv2dGemm(x, w, bias|null, y, dtype, meta): conv2d's result for float32 channels-last ungrouped
// convolutions, through patch copies and sgemm.
Napi::Value Conv2dGemmKernel(const Napi::CallbackInfo& info) {
  Args args(info, "conv2d (gemm)", 6);
  const ConvShape s = read_gemm_shape(args, 4, 5);
  View x = args.tensor(0, "x", DType::F32, s.x_numel);
  View w = args.tensor(1, "weight", DType::F32, s.w_numel);
  const bool has_bias = !args.is_null(2);
  View bias = has_bias ? args.tensor(2, "bias", DType::F32, s[kO]) : View{};
  View y = args.tensor(3, "y", DType::F32, s.y_numel);
  forward(s, x.as<float>(), w.as<float>(), has_bias ? bias.as<float>() : nullptr, y.as<float>());
  return info.Env().Undefined();
}

// conv2dBackwardWeightsGemm(x, dy, dw, dbias|null, dtype, dwDtype, meta): conv2dBackwardWeights'
// result for float32 channels-last ungrouped convolutions, through patch copies and sgemm.
Napi::Value Conv2dBackwardWeightsGemmKernel(const Napi::CallbackInfo& info) {
  Args args(info, "conv2d backward-weights (gemm)", 7);
  const ConvShape s = read_gemm_shape(args, 4, 6);
  const DType wgrad_type = args.float_dtype(5, "dwDtype");
  args.require(wgrad_type == DType::F32, "the products take float32 only, got %s", dtype_name(wgrad_type));
  View x = args.tensor(0, "x", DType::F32, s.x_numel);
  View dy = args.tensor(1, "dy", DType::F32, s.y_numel);
  View dw = args.tensor(2, "dw", DType::F32, s.w_numel);
  const bool has_bias = !args.is_null(3);
  View dbias = has_bias ? args.tensor(3, "dbias", DType::F32, s[kO]) : View{};
  backward_weights(s, x.as<float>(), dy.as<float>(), dw.as<float>(), has_bias ? dbias.as<float>() : nullptr);
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(conv2dGemm, Conv2dGemmKernel);
TURBINE_KERNEL(conv2dBackwardWeightsGemm, Conv2dBackwardWeightsGemmKernel);

}  // namespace turbine
