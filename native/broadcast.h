// Iteration over an output whose operands are broadcast views given by per-operand strides
// (stride 0 repeats an element). TypeScript collapses adjacent dimensions first, so the common
// cases arrive as one or two dimensions.
#pragma once
#include <cstdint>

#include "args.h"
#include "parallel.h"

namespace turbine {

constexpr int kMaxDims = 12;

template <int K>
struct Broadcast {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[K][kMaxDims] = {};
  int64_t numel = 1;

  // meta = [ndim, shape..., strides of operand 0..., strides of operand 1..., ...]; checks that
  // every operand's largest offset lies inside its element count.
  Broadcast(const Args& args, size_t meta_index, const int64_t (&operand_numel)[K]) {
    const int32_t* head = args.ints(meta_index, "meta", 1);
    ndim = head[0];
    args.require(ndim >= 1 && ndim <= kMaxDims, "broadcast rank must be in 1..%d, got %d", kMaxDims, ndim);
    const int32_t* meta = args.ints(meta_index, "meta", 1 + static_cast<size_t>(ndim) * (K + 1)) + 1;
    for (int d = 0; d < ndim; d++) {
      shape[d] = meta[d];
      args.require(shape[d] >= 0, "negative extent %lld in dimension %d", static_cast<long long>(shape[d]), d);
      numel *= shape[d];
    }
    for (int k = 0; k < K; k++) {
      int64_t last = 0;
      for (int d = 0; d < ndim; d++) {
        stride[k][d] = meta[ndim * (k + 1) + d];
        args.require(stride[k][d] >= 0, "operand %d has a negative stride", k);
        if (shape[d] > 0) last += (shape[d] - 1) * stride[k][d];
      }
      args.require(numel == 0 || last < operand_numel[k],
                   "operand %d is read up to element %lld but holds %lld elements", k, static_cast<long long>(last),
                   static_cast<long long>(operand_numel[k]));
    }
  }

  // fn(offsets[K], count, inner_strides[K], out_offset) for runs along the last dimension.
  template <typename Fn>
  void for_each_run(Fn&& fn) const {
    if (numel == 0) return;
    const int last = ndim - 1;
    const int64_t inner = shape[last];
    int64_t inner_stride[K];
    for (int k = 0; k < K; k++) inner_stride[k] = stride[k][last];
    if (ndim == 1) {
      parallel_for(inner, kElementGrain, [&](int64_t begin, int64_t end) {
        int64_t off[K];
        for (int k = 0; k < K; k++) off[k] = begin * inner_stride[k];
        fn(off, end - begin, inner_stride, begin);
      });
      return;
    }
    const int64_t rows = numel / inner;
    const int64_t grain = inner >= kElementGrain ? 1 : kElementGrain / (inner > 0 ? inner : 1);
    parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; row++) {
        int64_t off[K] = {};
        int64_t r = row;
        for (int d = last - 1; d >= 0; d--) {
          int64_t i = r % shape[d];
          r /= shape[d];
          for (int k = 0; k < K; k++) off[k] += i * stride[k][d];
        }
        fn(off, inner, inner_stride, row * inner);
      }
    });
  }
};

}  // namespace turbine
