// Strided copy: dst[dstOffset + Σ i·dstStride] = src[srcOffset + Σ i·srcStride] over a shape.
// One kernel serves expand (source stride 0), permute and transpose (permuted source strides),
// slice (source offset), concat and slice-backward (destination offset and strides).
#include <algorithm>

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

// Side of the square tiles of a transposing copy: 16 rows of 16 elements stay in L1 whichever
// operand is read across its lines.
constexpr int64_t kTile = 16;

// Below this many bytes a transposed slab stays in L2, where copying element by element was
// measured as fast as tiles (a 64 × 25 slab) or faster; a 256 × 1024 f32 transpose ran 4.5×
// faster tiled (1 thread).
constexpr int64_t kTiledSlabBytes = 256 * 1024;

// Whether the copy transposes its last two dimensions over a slab too large for the cache: the
// destination runs along the last one while the source runs along the one before (a permute
// that moves a contiguous axis). Element by element, such a copy then reads a new cache line
// per element; tiled, each line is used whole.
bool tile_transposes(const Broadcast<2>& bc, int64_t element_bytes) {
  const int last = bc.ndim - 1;
  return bc.ndim >= 2 && bc.stride[1][last] == 1 && bc.stride[0][last] > 1 && bc.stride[0][last - 1] == 1 &&
         bc.shape[last] * bc.shape[last - 1] * element_bytes >= kTiledSlabBytes;
}

// dst[o, a, b] = src[o, a, b] over the last two dimensions (a, b) in kTile × kTile tiles, where
// src is contiguous along a and dst along b; o runs over the leading dimensions.
template <typename T>
void copy_transposed(const Broadcast<2>& bc, const T* src, T* dst) {
  const int last = bc.ndim - 1;
  const int64_t rows = bc.shape[last - 1], cols = bc.shape[last];
  const int64_t src_col = bc.stride[0][last], dst_row = bc.stride[1][last - 1];
  const int64_t row_tiles = (rows + kTile - 1) / kTile, outer = bc.numel / (rows * cols);
  parallel_for(outer * row_tiles, std::max<int64_t>(1, kElementGrain / (kTile * cols)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t task = begin; task < end; task++) {
                   int64_t o = task / row_tiles, base[2] = {};
                   for (int d = last - 2; d >= 0; d--) {
                     const int64_t i = o % bc.shape[d];
                     o /= bc.shape[d];
                     for (int k = 0; k < 2; k++) base[k] += i * bc.stride[k][d];
                   }
                   const int64_t a0 = task % row_tiles * kTile, a1 = std::min(rows, a0 + kTile);
                   for (int64_t b0 = 0; b0 < cols; b0 += kTile) {
                     const int64_t b1 = std::min(cols, b0 + kTile);
                     for (int64_t a = a0; a < a1; a++) {
                       const T* s = src + base[0] + a;
                       T* d = dst + base[1] + a * dst_row;
                       for (int64_t b = b0; b < b1; b++) d[b] = s[b * src_col];
                     }
                   }
                 }
               });
}

template <typename T>
void copy_any(const Broadcast<2>& bc, const T* src, T* dst) {
  if (tile_transposes(bc, sizeof(T))) {
    copy_transposed(bc, src, dst);
  } else {
    copy_runs(bc, src, dst);
  }
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
    args.require(bc.shape[d] <= 1 || bc.stride[1][d] > 0,
                 "destination stride 0 in dimension %d would write one element twice", d);
  }
  if (dt == DType::F32 || dt == DType::I32) {
    copy_any(bc, src.as<uint32_t>() + src_off, dst.as<uint32_t>() + dst_off);
  } else {
    copy_any(bc, src.as<uint16_t>() + src_off, dst.as<uint16_t>() + dst_off);
  }
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(copyStrided, CopyStridedKernel);

}  // namespace turbine
