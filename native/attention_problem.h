// What one attention call computes (native/attention.cc): b × h heads of t rows of d, the
// strided layouts of q, k, v and out in their arrays, the scale, the causal mask and the tile
// block; read from the kernel's arguments and checked against the arrays they index.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "args.h"
#include "dtype.h"
#include "extents.h"
#include "lanes.h"
#include "parallel.h"

namespace turbine {

// Past 256 the tiles (several block × block f32 buffers) no longer fit in L2.
constexpr int64_t kMaxBlock = 256;

// Where an operand's elements lie in its array: column c of row i of head hd of batch bt is at
// offset + bt·batch + hd·head + i·time + c (columns are contiguous). Contiguous [B, H, T, D] is
// (0, H·T·D, T·D, D); the q of a packed qkv [B, T, 3C] (nanoGPT's Linear(C, 3C) output, C = H·D)
// is (0, T·3C, D, 3C), its k and v start at C and 2C, and the merged output [B, T, C] is
// (0, T·C, D, C). Gradients take their operand's layout: grad and out, dq and q, dk and k, dv and v.
struct Layout {
  int64_t offset, batch, head, time;
};

struct Layouts {
  Layout q, k, v, out;
};

struct Problem {
  int64_t b, h, t, d, block;
  float scale;
  bool causal;
  Layouts layout;

  int64_t heads() const { return b * h; }
  // Element index of row `row` of head `bh` (batch-major: bh = bt·h + hd) under l.
  int64_t at(const Layout& l, int64_t bh, int64_t row) const {
    return l.offset + bh / h * l.batch + bh % h * l.head + row * l.time;
  }
  int64_t dp() const { return round_to_lanes(d); }  // d padded with zero columns for the tile products
  int64_t blocks() const { return (t + block - 1) / block; }
  // Grain for parallel_for over tasks of `rows` query rows each: about rows·t·d multiply-adds.
  int64_t grain(int64_t rows) const { return std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, rows * t * d)); }
};

// Reads [b, h, t, d, layout, scale, causal, block] from argument `first` on and checks them.
inline Problem read_problem(const Args& args, size_t first) {
  Problem pb{};
  pb.b = args.integer(first, "b");
  pb.h = args.integer(first + 1, "h");
  pb.t = args.integer(first + 2, "t");
  pb.d = args.integer(first + 3, "d");
  pb.block = args.integer(first + 7, "block");
  pb.causal = args.boolean(first + 6, "causal");
  checked_numel(args, {pb.b, pb.h, pb.t, pb.d});
  args.require(pb.d >= 1, "the head dimension d must be >= 1, got %lld", static_cast<long long>(pb.d));
  args.require(pb.block >= 1 && pb.block <= kMaxBlock, "block size must be an integer in [1, %lld], got %lld",
               static_cast<long long>(kMaxBlock), static_cast<long long>(pb.block));
  const double scale = args.number(first + 5, "scale");
  args.require(std::isfinite(scale), "scale must be a finite number, got %g", scale);
  pb.scale = static_cast<float>(scale);
  const int32_t* e = args.ints(first + 4, "layout", 16);
  for (int i = 0; i < 16; i++) args.require(e[i] >= 0, "layout entry %d must be >= 0, got %d", i, e[i]);
  Layout* layouts[] = {&pb.layout.q, &pb.layout.k, &pb.layout.v, &pb.layout.out};
  for (int i = 0; i < 4; i++) *layouts[i] = Layout{e[4 * i], e[4 * i + 1], e[4 * i + 2], e[4 * i + 3]};
  return pb;
}

// The array of argument i, checked to hold every element that layout l reaches.
inline void* operand(const Args& args, size_t i, const char* name, DType dt, const Layout& l, const Problem& pb) {
  const View view = args.tensor_any(i, name, dt);
  const int64_t numel = static_cast<int64_t>(view.bytes / dtype_size(dt));
  if (pb.b == 0 || pb.h == 0 || pb.t == 0) return view.data;
  const int64_t extents[] = {pb.b, pb.h, pb.t}, strides[] = {l.batch, l.head, l.time};
  int64_t last = l.offset + pb.d - 1, term = 0;
  bool ok = true;
  for (int i = 0; i < 3; i++) {
    ok = ok && !__builtin_mul_overflow(extents[i] - 1, strides[i], &term) && !__builtin_add_overflow(last, term, &last);
  }
  args.require(ok, "'%s' is used beyond element 2^63 by its layout", name);
  args.require(last < numel, "'%s' is used up to element %lld but holds %lld elements", name,
               static_cast<long long>(last), static_cast<long long>(numel));
  return view.data;
}

}  // namespace turbine
