// One AVX-512 register of floats as a value type, for kernels written with GCC's vector
// extension (tile products, direct convolutions).
#pragma once
#include <cstdint>
#include <cstring>

namespace turbine {

// Sixteen floats: one AVX-512 register. GCC's vector extension keeps accumulators in registers
// where a plain array would not stay, and splits the type into narrower registers (or scalars)
// when the machine has no AVX-512, so the portable build compiles the same code.
//
// Every loop over a block's registers (accumulators, loaded vectors) carries `#pragma GCC
// unroll 16`: GCC keeps an array of Lanes in registers only where its indices are constants
// when scalar replacement runs, and its own complete unrolling comes too late for nested
// loops. Without the pragma the accumulators of a tile product lived on the stack, one load and
// one store per multiply-add (the f32 attention ran at half the speed it has now).
using Lanes = float __attribute__((vector_size(64)));
constexpr int64_t kTileLanes = 16;

// One register of the machine's widest vectors (AVX-512: a Lanes; AVX2: half of one), for the
// innermost loops that must stay in registers. GCC keeps a vector wider than the machine's in
// memory: on Zen 3 (AVX2) a tile product over Lanes did every multiply-add through the stack,
// and the gpt's attention ran 20× slower than on an AVX-512 CPU.
#if defined(__AVX512F__)
using MachineLanes = Lanes;
constexpr int kVectorRegisters = 32;
#else
using MachineLanes = float __attribute__((vector_size(32)));
constexpr int kVectorRegisters = 16;
#endif
constexpr int64_t kMachineFloats = sizeof(MachineLanes) / sizeof(float);

inline void load_machine(MachineLanes& v, const float* p) { std::memcpy(&v, p, sizeof v); }
inline void store_machine(float* p, const MachineLanes& v) { std::memcpy(p, &v, sizeof v); }

// Makes GCC hold v in a register at this point, as a value it cannot recompute from memory (an
// empty asm). Without AVX a MachineLanes fills no single register (the portable build), and the
// constraint would be impossible: there it does nothing.
inline void keep_in_register(MachineLanes& v) {
#if defined(__AVX__)
  asm("" : "+v"(v));
#endif
}

// load_machine for a vector that several multiply-adds use in turn (a row of a product's B, a
// tap's weights), kept in a register: otherwise GCC folds the load into each use as a memory
// operand, and the loop is bound by loads instead of multiply-adds (the f32 attention's
// products ran at about half their rate).
inline void load_machine_kept(MachineLanes& v, const float* p) {
  load_machine(v, p);
  keep_in_register(v);
}

inline int64_t round_to_lanes(int64_t n) { return (n + kTileLanes - 1) / kTileLanes * kTileLanes; }

// Lanes pass by reference: by value, a build without AVX-512 would change the calling ABI.
inline void load_lanes(Lanes& v, const float* p) { std::memcpy(&v, p, sizeof v); }
inline void store_lanes(float* p, const Lanes& v) { std::memcpy(p, &v, sizeof v); }

}  // namespace turbine
