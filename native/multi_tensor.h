// The multi-tensor optimizer steps' shared plumbing (native/optim.cc, native/lamb.cc): every
// parameter of a list cut into the ranges one single-tensor call would give its threads, all
// ranges run on one thread team, and the check that parallel lists have one entry per parameter.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "args.h"
#include "parallel.h"

namespace turbine {

// A range of one parameter's elements in a multi-tensor step.
struct Piece {
  uint32_t param;
  int64_t begin, end;
};

// Cuts every parameter of `sizes` into the ranges parallel_for gives its threads (parallel.h),
// so a multi-tensor step updates each element in the same range of the same loop as a
// single-tensor call would.
inline std::vector<Piece> cut_pieces(const std::vector<int64_t>& sizes) {
  std::vector<Piece> pieces;
  for (uint32_t k = 0; k < sizes.size(); k++) {
    const int64_t n = sizes[k], chunks = parallel_chunks(n, kElementGrain);
    for (int64_t t = 0; t < chunks; t++) pieces.push_back({k, n * t / chunks, n * (t + 1) / chunks});
  }
  return pieces;
}

// run(i) for every non-empty piece i of `pieces`, all on one thread team.
template <typename Run>
inline void run_each_piece(const std::vector<Piece>& pieces, Run&& run) {
  int64_t total = 0;
  for (const Piece& piece : pieces) total += piece.end - piece.begin;
  const int64_t count = static_cast<int64_t>(pieces.size());
  const int threads = total > kElementGrain ? static_cast<int>(std::min<int64_t>(omp_get_max_threads(), count)) : 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < count; i++) {
    if (pieces[i].begin < pieces[i].end) run(i);
  }
}

// run(piece) for every piece of every parameter of `sizes`, on one thread team.
template <typename Run>
inline void run_pieces(const std::vector<int64_t>& sizes, Run&& run) {
  const std::vector<Piece> pieces = cut_pieces(sizes);
  run_each_piece(pieces, [&](int64_t i) { run(pieces[i]); });
}

// Fails unless each (argument index, name) is an array of `count` entries, as params is.
inline void require_same_lengths(const Args& args, uint32_t count,
                                 std::initializer_list<std::pair<size_t, const char*>> lists) {
  for (const auto& [i, name] : lists) {
    const uint32_t n = args.list_length(i, name);
    args.require(n == count, "%s holds %u entries, params %u", name, n, count);
  }
}

}  // namespace turbine
