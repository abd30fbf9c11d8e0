#include "reduce_ops.h"

#include <algorithm>
#include <cstdint>

#include "../dtype.h"

namespace turbine_mpi {

using turbine::bf16;
using turbine::DType;
using turbine::f16;

static MPI_Op half_ops[2][2];  // [bf16, f16][sum, max]

template <typename T, bool Max>
static void half_reduce(void* in, void* inout, int* len, MPI_Datatype*) {
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  const int n = *len;
#pragma omp simd
  for (int i = 0; i < n; i++) {
    float x = turbine::to_float(a[i]), y = turbine::to_float(b[i]);
    float r = Max ? std::max(x, y) : x + y;
    if constexpr (std::is_same_v<T, bf16>)
      b[i] = turbine::to_bf16(r);
    else
      b[i] = turbine::to_f16(r);
  }
}

void create_reduce_ops() {
  MPI_Op_create(half_reduce<bf16, false>, 1, &half_ops[0][0]);
  MPI_Op_create(half_reduce<bf16, true>, 1, &half_ops[0][1]);
  MPI_Op_create(half_reduce<f16, false>, 1, &half_ops[1][0]);
  MPI_Op_create(half_reduce<f16, true>, 1, &half_ops[1][1]);
}

MPI_Datatype mpi_type(int dtype) {
  switch (static_cast<DType>(dtype)) {
    case DType::F32:
      return MPI_FLOAT;
    case DType::I32:
      return MPI_INT32_T;
    default:
      return MPI_UINT16_T;
  }
}

MPI_Op mpi_op(int dtype, Reduce op) {
  const bool max = op == Reduce::Max;
  switch (static_cast<DType>(dtype)) {
    case DType::BF16:
      return half_ops[0][max];
    case DType::F16:
      return half_ops[1][max];
    default:
      return max ? MPI_MAX : MPI_SUM;
  }
}

template <typename T>
static void scale_typed(T* p, int64_t n, float d) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    if constexpr (std::is_same_v<T, float>)
      p[i] /= d;
    else if constexpr (std::is_same_v<T, bf16>)
      p[i] = turbine::to_bf16(turbine::to_float(p[i]) / d);
    else
      p[i] = turbine::to_f16(turbine::to_float(p[i]) / d);
  }
}

void scale(void* data, int64_t count, int dtype, int divisor) {
  const float d = static_cast<float>(divisor);
  switch (static_cast<DType>(dtype)) {
    case DType::F32:
      scale_typed(static_cast<float*>(data), count, d);
      break;
    case DType::BF16:
      scale_typed(static_cast<bf16*>(data), count, d);
      break;
    case DType::F16:
      scale_typed(static_cast<f16*>(data), count, d);
      break;
    case DType::I32:
      break;  // rejected before: mean needs a floating dtype
  }
}

}  // namespace turbine_mpi
