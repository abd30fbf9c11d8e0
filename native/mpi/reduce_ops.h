// MPI datatypes and reduction operators for turbine's dtypes. bf16 and f16 have no MPI type:
// they travel as 16-bit words and reduce through user-defined operators that compute in f32.
#pragma once
#include <mpi.h>

#include <cstdint>

namespace turbine_mpi {

enum class Reduce : int { Sum = 0, Mean = 1, Max = 2 };

// Creates the user-defined operators; call once after MPI_Init.
void create_reduce_ops();
MPI_Datatype mpi_type(int dtype);
MPI_Op mpi_op(int dtype, Reduce op);
// Divides `count` elements of `dtype` at `data` by `divisor` (the mean after a sum).
void scale(void* data, int64_t count, int dtype, int divisor);

}  // namespace turbine_mpi
