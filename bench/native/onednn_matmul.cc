// Raw oneDNN matmul, the ceiling turbine's matmul is compared with (bench/matmul.ts).
//
// Builds the primitive exactly as native/matmul.cc does for a plain matmul(a, b): 3-D
// row-major descriptors with a batch of 1, the same dtype for A, B and C (turbine's matmul
// writes its output in its inputs' dtype; oneDNN accumulates bf16 in f32), a user-managed
// scratchpad, and execute + stream wait per call. It creates the primitive once, warms up
// (at least 3 calls and 0.2 s), then times `repeats` calls one by one and prints one JSON line:
//   {"m":..,"k":..,"n":..,"dtype":"f32","threads":2,"misalign":0,"seconds":[...],"gflops":<median>}
// Threads: OMP_NUM_THREADS from the environment.
//
// Built by bench/matmul.ts (g++ -O3 -march=native -fopenmp ... -ldnnl into build/bench/); by hand:
//   build/bench/onednn_matmul --m 1024 --k 1024 --n 1024 --dtype bf16 --repeats 20
// --misalign B offsets every buffer B bytes from a 64-byte boundary, to see what alignment
// costs (a large ArrayBuffer from V8 is usually 16 bytes past a page boundary).
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using Clock = std::chrono::steady_clock;

struct Options {
  int64_t m = 1024, k = 1024, n = 1024;
  std::string dtype = "f32";
  int repeats = 10;
  int64_t misalign = 0;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "onednn_matmul: %s\nusage: onednn_matmul --m M --k K --n N --dtype f32|bf16 "
               "[--repeats R] [--misalign BYTES]\n",
               why);
  std::exit(2);
}

int64_t non_negative(const char* flag, const char* text) {
  char* end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (*end != '\0' || v < 0) usage((std::string(flag) + " takes a non-negative integer, got " + text).c_str());
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (i + 1 >= argc) usage((flag + " needs a value").c_str());
    const char* value = argv[i + 1];
    if (flag == "--m") o.m = non_negative("--m", value);
    else if (flag == "--k") o.k = non_negative("--k", value);
    else if (flag == "--n") o.n = non_negative("--n", value);
    else if (flag == "--repeats") o.repeats = static_cast<int>(non_negative("--repeats", value));
    else if (flag == "--misalign") o.misalign = non_negative("--misalign", value);
    else if (flag == "--dtype") o.dtype = value;
    else usage(("unknown flag " + flag).c_str());
  }
  if (o.dtype != "f32" && o.dtype != "bf16") usage(("--dtype must be f32 or bf16, got " + o.dtype).c_str());
  if (o.m < 1 || o.k < 1 || o.n < 1 || o.repeats < 1) usage("M, K, N and repeats must be at least 1");
  if (o.misalign % 4 != 0 || o.misalign >= 64) usage("--misalign must be a multiple of 4 below 64");
  return o;
}

// A 64-byte-aligned buffer of `bytes`, then shifted by `misalign` bytes.
struct Buffer {
  void* base;
  void* data;
  Buffer(size_t bytes, int64_t misalign) {
    base = std::aligned_alloc(64, (bytes + 64 + 63) & ~static_cast<size_t>(63));
    if (!base) usage("out of memory");
    data = static_cast<char*>(base) + misalign;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(base); }
};

// Uniform values in [-1, 1), written as f32 or as bf16 (round to nearest even).
void fill(void* dst, int64_t count, bool bf16, uint64_t seed) {
  uint64_t s = seed;
  for (int64_t i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    float v = static_cast<float>(s >> 40) / static_cast<float>(1 << 23) - 1.0f;
    if (!bf16) {
      static_cast<float*>(dst)[i] = v;
    } else {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      static_cast<uint16_t*>(dst)[i] = static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const bool bf16 = o.dtype == "bf16";
  const auto t = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  const size_t elem = bf16 ? 2 : 4;
  const int64_t m = o.m, k = o.k, n = o.n;

  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    memory::desc a_md({1, m, k}, t, memory::dims{m * k, k, 1});
    memory::desc b_md({1, k, n}, t, memory::dims{k * n, n, 1});
    memory::desc c_md({1, m, n}, t, memory::dims{m * n, n, 1});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine);
    dnnl::matmul prim(pd);

    Buffer a(m * k * elem, o.misalign), b(k * n * elem, o.misalign), c(m * n * elem, o.misalign);
    Buffer scratch(std::max<size_t>(pd.scratchpad_desc().get_size(), 1), 0);
    fill(a.data, m * k, bf16, 0x9e3779b97f4a7c15ull);
    fill(b.data, k * n, bf16, 0xd1b54a32d192ed03ull);
    std::unordered_map<int, memory> io{{DNNL_ARG_SRC, memory(a_md, engine, a.data)},
                                       {DNNL_ARG_WEIGHTS, memory(b_md, engine, b.data)},
                                       {DNNL_ARG_DST, memory(c_md, engine, c.data)},
                                       {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), engine, scratch.data)}};
    auto run = [&] {
      prim.execute(stream, io);
      stream.wait();
    };

    const auto warm_start = Clock::now();
    for (int i = 0; i < 3 || Clock::now() - warm_start < std::chrono::milliseconds(200); i++) run();

    std::vector<double> seconds(o.repeats);
    for (double& s : seconds) {
      const auto t0 = Clock::now();
      run();
      s = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    std::vector<double> sorted = seconds;
    std::sort(sorted.begin(), sorted.end());
    const size_t h = sorted.size() / 2;
    const double median = sorted.size() % 2 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
    const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);

    std::printf("{\"m\":%lld,\"k\":%lld,\"n\":%lld,\"dtype\":\"%s\",\"threads\":%d,\"misalign\":%lld,\"seconds\":[",
                static_cast<long long>(m), static_cast<long long>(k), static_cast<long long>(n), o.dtype.c_str(),
                omp_get_max_threads(), static_cast<long long>(o.misalign));
    for (size_t i = 0; i < seconds.size(); i++) std::printf("%s%.9g", i ? "," : "", seconds[i]);
    std::printf("],\"gflops\":%.2f}\n", flops / median / 1e9);
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "onednn_matmul: oneDNN failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
