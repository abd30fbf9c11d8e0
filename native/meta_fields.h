// The packed Int32Array metas of conv2d, pooling and matmul: each field list is written once
// here, as an X-macro of (C++ enum name, JavaScript name), and gives both the enum the kernels
// read with and the name → index table the addon exports as metaFields(), from which
// TypeScript packs its metas by name (so the two sides cannot drift).
#pragma once

namespace turbine {

#define TURBINE_META_ENUM(field, name) field,

// A 2-D window's fields, shared by convolution and pooling: kernel, stride, padding, dilation.
#define TURBINE_WINDOW_FIELDS(X) \
  X(kKh, kh)                     \
  X(kKw, kw)                     \
  X(kSh, sh)                     \
  X(kSw, sw)                     \
  X(kPh, ph)                     \
  X(kPw, pw)                     \
  X(kDh, dh)                     \
  X(kDw, dw)

// [N, C, H, W, O, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, groups, layout],
// layout 0 for NCHW activations, 1 for NHWC (channels last).
#define TURBINE_CONV_META(X) \
  X(kN, n)                   \
  X(kC, c)                   \
  X(kH, h)                   \
  X(kW, w)                   \
  X(kO, o)                   \
  TURBINE_WINDOW_FIELDS(X)   \
  X(kGroups, groups)         \
  X(kLayout, layout)
namespace conv_meta {
enum Field { TURBINE_CONV_META(TURBINE_META_ENUM) kMeta };
}

// [N, C, H, W, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, layout], layout 0 for
// NCHW and 1 for NHWC (channels last).
#define TURBINE_POOL_META(X) \
  X(kN, n)                   \
  X(kC, c)                   \
  X(kH, h)                   \
  X(kW, w)                   \
  TURBINE_WINDOW_FIELDS(X)   \
  X(kLayout, layout)
namespace pool_meta {
enum Field { TURBINE_POOL_META(TURBINE_META_ENUM) kMeta };
}

// [batchA, batchB, M, N, K, transA, transB, accumulate, runtimeM, runtimeN, runtimeK, padA,
// padB]; nonzero flags transpose an operand through its strides, add the product into C, mark an
// extent that changes from call to call (one primitive then serves every value of it), or copy
// an operand into rows 64 bytes longer before the product (the same result: a layout only).
#define TURBINE_MATMUL_META(X) \
  X(kBatchA, batchA)           \
  X(kBatchB, batchB)           \
  X(kM, m)                     \
  X(kN, n)                     \
  X(kK, k)                     \
  X(kTransA, transA)           \
  X(kTransB, transB)           \
  X(kAccumulate, accumulate)   \
  X(kRuntimeM, runtimeM)       \
  X(kRuntimeN, runtimeN)       \
  X(kRuntimeK, runtimeK)       \
  X(kPadA, padA)               \
  X(kPadB, padB)
namespace matmul_meta {
enum Field { TURBINE_MATMUL_META(TURBINE_META_ENUM) kMeta };
}

}  // namespace turbine
