// The arguments the row-moving kernels share (embedding.cc, moe_rows.cc): a dtype, a table of
// rows × cols elements and int32 row indices into it, every index checked before anything is
// written.
#pragma once

#include "args.h"

namespace turbine {

struct RowLookup {
  DType dtype;
  int64_t rows, cols, count;
  const int32_t* indices;
};

// Reads (dtype, ·, rows, cols, indices) at arguments 0, 2, 3 and 4 (argument 1, the table, is the
// caller's to read); rejects a negative extent and any index outside [0, rows), naming its flat
// position and the `table`'s rows.
inline RowLookup read_row_lookup(const Args& args, const char* table) {
  RowLookup l;
  l.dtype = args.float_dtype(0, "dtype");
  l.rows = args.integer(2, "rows");
  l.cols = args.integer(3, "cols");
  args.require(l.rows >= 0 && l.cols >= 0, "%s shape [%lld, %lld] has a negative extent", table,
               static_cast<long long>(l.rows), static_cast<long long>(l.cols));
  View idx = args.tensor_any(4, "indices", DType::I32);
  l.count = static_cast<int64_t>(idx.bytes / 4);
  l.indices = idx.as<int32_t>();
  for (int64_t i = 0; i < l.count; i++) {
    const int32_t v = l.indices[i];
    args.require(v >= 0 && v < l.rows, "index %d at flat position %lld is out of range [0, %lld) for a %s of %lld rows",
                 v, static_cast<long long>(i), static_cast<long long>(l.rows), table, static_cast<long long>(l.rows));
  }
  return l;
}

}  // namespace turbine
