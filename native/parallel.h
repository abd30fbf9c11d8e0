// Splits [0, n) over the calling thread's OpenMP team. Small ranges run inline: starting a
// team costs microseconds, more than a small element-wise kernel takes.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace turbine {

// How many ranges parallel_for cuts n elements into: 1 (run inline) or one per thread it starts;
// range t of c is [n·t/c, n·(t+1)/c).
inline int64_t parallel_chunks(int64_t n, int64_t grain) {
  const int threads = omp_get_max_threads();
  if (threads <= 1 || n <= grain) return 1;
  return std::min<int64_t>(threads, (n + grain - 1) / grain);
}

template <typename Fn>
inline void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  const int64_t chunks = parallel_chunks(n, grain);
  if (chunks == 1) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(static_cast <int>(chunks))
  {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) fn(begin, end);
  }
}

// Grain for cheap element-wise work: below this many elements one thread is faster.
constexpr int64_t kElementGrain = 1 << 15;

}  // namespace turbine
