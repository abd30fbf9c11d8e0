// Element counts from extents that JavaScript passed separately ([outer, r, inner], [rows,
// cols]). A product that overflows could match a short array's length and send a kernel past
// its end, so every extent is checked to be non-negative and the product to stay in range.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

#include "args.h"

namespace turbine {

inline int64_t checked_numel(const Args& args, std::initializer_list<int64_t> extents) {
  int64_t n = 1;
  bool ok = true;
  for (int64_t e : extents) ok = ok && e >= 0 && !__builtin_mul_overflow(n, e, &n);
  if (ok) return n;
  std::string list;
  for (int64_t e : extents) list += (list.empty() ? "" : ", ") + std::to_string(e);
  args.fail("extents [" + list + "] must be non-negative with a representable product");
}

}  // namespace turbine
