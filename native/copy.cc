// Strided copy: dst[dstOffset + Σ i·dstStride] = src[srcOffset + Σ i·srcStride] over a shape.
// One kernel serves expand (source stride 0), permute and transpose (permuted source strides),
// slice (source offset), concat and slice-backward (destination offset and strides).
#include "args.h"
#include "broadcast.h"
#include "registry.h"

namespace turbine {
namespace {

template <typename T>
void copy_runs(const Broadcast<2>& bc, const T* src, T* dst) {
  bc.for_each_run([&](const int64_t* off, int64_t count, const int64_t* step, int64_t) {
    const T* s = src + off[0];
    T* d = dst + off[1];
    if (step[0] == 1 && step[1] == 1) {
      std::memcpy(d, s, static_cast<size_t>(count) * sizeof(T));
    } else if (step[0] == 0) {
      const T v = *s;
      for (int64_t i = 0; i < count; i++) d[i * step[1]] = v;
    } else {
      for (int64_t i = 0; i < count; i++) d[i * step[1]] = s[i * step[0]];
    }
  });
}

// copyStrided(dtype, src, srcOffset, dst, dstOffset, meta) with
// meta = [ndim, shape..., srcStrides..., dstStrides...]
Napi::Value CopyStridedKernel(const Napi::CallbackInfo& info) {
  Args args(info, "copyStrided", 6);
  DType dt = args.dtype(0, "dtype");
  View src = args.tensor_any(1, "src", dt);
  View dst = args.tensor_any(3, "dst", dt);
  const int64_t size = static_cast<int64_t>(dtype_size(dt));
  const int64_t src_n = static_cast<int64_t>(src.bytes) / size, dst_n = static_cast<int64_t>(dst.bytes) / size;
  const int64_t src_off = args.integer(2, "srcOffset"), dst_off = args.integer(4, "dstOffset");
  args.require(src_off >= 0 && src_off <= src_n && dst_off >= 0 && dst_off <= dst_n,
               "offsets %lld and %lld lie outside the arrays (%lld and %lld elements)", static_cast<long long>(src_off),
               static_cast<long long>(dst_off), static_cast<long long>(src_n), static_cast<long long>(dst_n));
  Broadcast<2> bc(args, 5, {src_n - src_off, dst_n - dst_off});
  if (bc.numel == 0) return info.Env().Undefined();
  for (int d = 0; d < bc.ndim; d++) {
    args.require(bc.shape[d] <= 1 || bc.stride[1][d] > 0, "destination stride 0 in dimension %d would write one element twice", d);
  }
  if (dt == DType::F32 || dt == DType::I32) {
    copy_runs(bc, src.as<uint32_t>() + src_off, dst.as<uint32_t>() + dst_off);
  } else {
    copy_runs(bc, src.as<uint16_t>() + src_off, dst.as<uint16_t>() + dst_off);
  }
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(copyStrided, CopyStridedKernel);

}  // namespace turbine
