// Element counts computed from extents the caller supplied. An overflowing product could make a
// bogus count match a small array and send a kernel past its end, so overflow is an error.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "args.h"

namespace turbine {

inline int64_t checked_numel(const Args& args, const char* what, std::initializer_list<int64_t> extents) {
  int64_t n = 1;
  for (int64_t e : extents)
    args.require(e >= 0 && !__builtin_mul_overflow(n, e, &n), "the element count of %s overflows", what);
  return n;
}

}  // namespace turbine
