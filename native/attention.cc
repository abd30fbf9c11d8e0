// Fused scaled-dot-product attention, softmax(scale·Q·Kᵀ + causal mask)·V, over q, k, v of b × h
// heads of t rows of d read through strides (see Layout), forward and backward, FlashAttention-
// style (Dao et al., FlashAttention-2): the t × t score matrix never exists. Forward walks key
// blocks with an online softmax (running max, running sum, rescaled accumulator) and saves each
// query row's log-sum-exp; backward recomputes each score tile from it. A thread holds block × block tiles, plus in
// backward one head's f32 dQ accumulator and Δ (t × d and t floats). f32, bf16 and f16 inputs are computed in f32;
// outputs take the input dtype, the log-sum-exp is f32. bf16 inputs on a CPU with AMX (tile_amx.h) or AVX512_BF16
// (tile_dot_bf16.h) take the tile products whose factors are inputs or probabilities in bf16 (the probabilities are
// rounded to bf16 before P·V and Pᵀ·dO, as PyTorch's bf16 attention does); the softmax work stays f32, and dS's
// products keep about 16 bits of dS (AMX, on two bf16 parts) or all of f32.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "args.h"
#include "attention_problem.h"
#include "attention_rows.h"
#include "exp_simd.h"
#include "parallel.h"
#include "registry.h"
#include "tile_amx.h"
#include "tile_dot_bf16.h"
#include "tile_matmul.h"

namespace turbine {
namespace {

// Whether a tile product on a causal diagonal tile writes and reads only the 16-lane ranges of
// for_each_tile_block (f32 and bf16 dot products), so that the element-wise passes may skip
// the vectors outside them. AMX's 32 × 32 blocks reach past those ranges (into lanes the mask
// hides, whose terms it takes as given): with AMX the passes fill every lane.
template <typename Tiles>
constexpr bool kLaneExact = !std::is_same_v<Tiles, AmxTiles> && !std::is_same_v<Tiles, AmxSplitTiles>;

// Q is loaded times scale, in forward and backward alike, so scores are recomputed with the
// same roundings and nothing contracts scale·s − L differently in the two: a one-hot row's
// recomputed probability is exactly 1.
//
// One task is one query block of one head. The score tile is kept transposed, keys × queries
// (St = K·Qᵀ), so the softmax bookkeeping runs along contiguous query lanes and Pᵀ feeds P·V
// through strides without a copy; Q is transposed once per task instead of K once per tile.
template <typename Tiles, typename T>
void forward(const T* q, const T* k, const T* v, T* out, float* lse, const Problem& pb) {
  const int64_t d = pb.d, dp = pb.dp(), bp = round_to_lanes(pb.block), nb = pb.blocks();
  const Layouts& ly = pb.layout;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  parallel_for(pb.heads() * nb, pb.grain(pb.block), [&](int64_t begin, int64_t end) {
    Tiles tiles, score_tiles;  // score_tiles packs the task's Qᵀ once for all its key blocks
    AlignedFloats qt(d * bp), kb(pb.block * dp), vb(pb.block * dp), st(pb.block * bp), acc(pb.block * dp);
    // K feeds the scores as A (d columns read), V the output as B (dp columns read).
    std::vector<float> m(bp), m_new(bp), alpha(bp), inv(bp);
    std::vector<double> l(bp), tile_sum(bp);
    for (int64_t task = begin; task < end; task++) {
      const int64_t h = task / nb, i0 = task % nb * pb.block;
      const int64_t rows = std::min(pb.block, pb.t - i0), width = round_to_lanes(rows);
      load_transposed(q + pb.at(ly.q, h, i0), ly.q.time, rows, d, qt.data(), width, pb.scale);
      if (task + 1 < end) {
        const int64_t next_h = (task + 1) / nb, next_i0 = (task + 1) % nb * pb.block;
        prefetch_rows(q + pb.at(ly.q, next_h, next_i0), ly.q.time, std::min(pb.block, pb.t - next_i0), d);
      }
      std::fill(m.begin(), m.end(), kNegInf);
      std::fill(l.begin(), l.end(), 0.0);
      std::fill(acc.data(), acc.data() + rows * dp, 0.0f);
      const int64_t key_end = pb.causal ? i0 + rows : pb.t;
      for (int64_t j0 = 0; j0 < key_end; j0 += pb.block) {
        const int64_t keys = std::min(pb.block, key_end - j0);
        const F32Rows kr = f32_rows(k + pb.at(ly.k, h, j0), ly.k.time, keys, d, d, kb.data(), dp);
        const F32Rows vr = f32_rows(v + pb.at(ly.v, h, j0), ly.v.time, keys, d, dp, vb.data(), dp);
        // The next key block, or the first of the next task's head.
        const int64_t next_j0 = j0 + pb.block < key_end ? j0 + pb.block : 0;
        const int64_t next_h = next_j0 > 0 ? h : (task + 1) / nb;
        if (next_j0 > 0 || (task + 1 < end && next_h != h)) {
          const int64_t next_keys = std::min(pb.block, pb.t - next_j0);
          prefetch_rows(k + pb.at(ly.k, next_h, next_j0), ly.k.time, next_keys, d);
          prefetch_rows(v + pb.at(ly.v, next_h, next_j0), ly.v.time, next_keys, d);
        }
        float* s = st.data();
        // On the diagonal tile the products skip what the mask hides (see Causal).
        const bool diagonal = pb.causal && j0 == i0;
        score_tiles.matmul({kr.data, kr.ld, 1}, qt.data(), width, s, width, keys, width, d, false,
                           diagonal ? Causal::kColumnsFromRow : Causal::kNone, j0 > 0);
        std::copy(m.begin(), m.begin() + width, m_new.begin());
        // Row j of a diagonal tile is read from lane lo(j) on: the products neither write nor read
        // the whole vectors of queries before key j, so the element-wise passes skip them too.
        const auto lo = [&](int64_t j) { return diagonal && kLaneExact<Tiles> ? j / kTileLanes * kTileLanes : 0; };
        for (int64_t j = 0; j < keys; j++) {
          // Query lane i sees key j0 + j when i0 + i ≥ j0 + j; masked scores become −∞.
          const int64_t first = pb.causal ? j0 + j - i0 : 0;
          float* sj = s + j * width;
#pragma omp simd
          for (int64_t i = lo(j); i < width; i++) {
            const float x = i >= first ? sj[i] : kNegInf;
            sj[i] = x;
            m_new[i] = x > m_new[i] ? x : m_new[i];  // std::max's reference stops GCC vectorising
          }
        }
        // Key 0 is in every row's first tile, so m_new is finite here; exp_simd(−∞) is exactly 0,
        // which zeroes masked probabilities and the first tile's rescaling of the empty state.
#pragma omp simd
        for (int64_t i = 0; i < width; i++) {
          alpha[i] = exp_simd(m[i] - m_new[i]);
          m[i] = m_new[i];
        }
        for (int64_t j = 0; j < keys; j++) {
          float* sj = s + j * width;
#pragma omp simd
          for (int64_t i = lo(j); i < width; i++) sj[i] = exp_simd(sj[i] - m[i]);
        }
        // The lanes' sums over the keys (a separate pass: GCC does not vectorise exp_simd beside a
        // double sum), one block of lanes at a time so that its sums stay in registers down the
        // rows: summed in memory row by row, each row waited on the store of the row before.
        for (int64_t i = 0; i < width; i += kTileLanes) {
          alignas(64) double sum[kTileLanes] = {};
          // On a diagonal tile, keys from i + 16 on are hidden from every lane of this block: their
          // probabilities here are exact zeros, or (below lo) never written.
          const int64_t rows_read = diagonal ? std::min(keys, i + kTileLanes) : keys;
          for (int64_t j = 0; j < rows_read; j++) {
            const float* sj = s + j * width + i;
#pragma omp simd
            for (int64_t r = 0; r < kTileLanes; r++) sum[r] += sj[r];
          }
          std::copy(sum, sum + kTileLanes, tile_sum.begin() + i);
        }
        for (int64_t i = 0; i < rows; i++) {
          l[i] = l[i] * alpha[i] + tile_sum[i];
          if (alpha[i] == 1.0f) continue;
          float* ai = acc.data() + i * dp;
#pragma omp simd
          for (int64_t c = 0; c < dp; c++) ai[c] *= alpha[i];
        }
        tiles.matmul({s, 1, width}, vr.data, vr.ld, acc.data(), dp, rows, dp, keys, true,
                     diagonal ? Causal::kDepthToRow : Causal::kNone);
      }
      for (int64_t i = 0; i < rows; i++) {
        inv[i] = static_cast<float>(1.0 / l[i]);
        if (lse) lse[h * pb.t + i0 + i] = m[i] + static_cast<float>(std::log(l[i]));
      }
      store_rows(acc.data(), dp, rows, d, out + pb.at(ly.out, h, i0), ly.out.time, 1.0f, inv.data());
    }
  });
}

// FlashAttention-2's backward, one head per task so that each head's dQ, dK and dV are written
// by one thread in a fixed order: no atomics, and the same bits for any thread count. Heads
// write disjoint elements as long as the layouts do not overlap; packed in one dqkv, a head's
// dq, dk and dv are disjoint column ranges of the rows of its batch. Outer loop over key blocks
// (dK, dV accumulate in tiles), inner over the query blocks that see them (dQ accumulates in a
// per-head f32 buffer). With Q̃ = scale·Q and Δ_i = Σ dO_i·O_i, per tile:
//   P = exp(Q̃·Kᵀ − L), dV += Pᵀ·dO, dS = P∘(dO·Vᵀ − Δ), dQ += dS·K (times scale when stored),
//   dK += dSᵀ·Q̃.
template <typename Tiles, typename ExactTiles, typename T>
void backward(const T* q, const T* k, const T* v, const T* out, const float* lse, const T* g, T* dq, T* dk, T* dv,
              const Problem& pb) {
  const int64_t d = pb.d, dp = pb.dp(), bp = round_to_lanes(pb.block), t = pb.t;
  const Layouts& ly = pb.layout;
  parallel_for(pb.heads(), pb.grain(t), [&](int64_t begin, int64_t end) {
    // dS feeds dQ and dK through ExactTiles (f32, or AMX on two bf16 parts): it is a difference
    // (dP − Δ), and rounded to bf16 it moved dK of the bf16 fixtures by up to 5.5e-3 where they
    // allow 3.5e-3; the other products' factors are inputs or probabilities.
    // score_tiles and dp_tiles pack a key block's Kᵀ and Vᵀ once for all its query blocks.
    Tiles tiles, score_tiles, dp_tiles;
    ExactTiles exact;
    AlignedFloats qb(pb.block * dp), gb(pb.block * dp), kb(pb.block * dp), kt(d * bp), vt(d * bp);
    AlignedFloats p(pb.block * bp), ds(pb.block * bp), dkb(pb.block * dp), dvb(pb.block * dp), dqb(dq ? t * dp : 0);
    AlignedFloats g16(kTileLanes * dp), ot16(d * kTileLanes), dd16(kTileLanes * kTileLanes);
    std::vector<float> delta(t);
    for (int64_t h = begin; h < end; h++) {
      const float* lh = lse + h * t;
      // The next head's operands come from memory while this one computes: without it a cold
      // head's loads (five strided operands) took a third of the backward's time.
      if (h + 1 < end && t <= kMaxBlock) {
        for (const auto& [data, l] : {std::pair{q, ly.q}, {k, ly.k}, {v, ly.v}, {out, ly.out}, {g, ly.out}}) {
          prefetch_rows(data + pb.at(l, h + 1, 0), l.time, t, d);
        }
      }
      // Δ by the same product as dP, on 16 rows at a time (the diagonal of dO·Oᵀ): a row whose
      // probabilities are one-hot (every causal row 0, any row when t = 1) has O_i = V_j exactly,
      // so dP_ij − Δ_i is exactly 0 and its dQ and dK terms vanish exactly, as they should.
      for (int64_t i0 = 0; i0 < t; i0 += kTileLanes) {
        const int64_t rows = std::min(kTileLanes, t - i0);
        load_transposed(out + pb.at(ly.out, h, i0), ly.out.time, rows, d, ot16.data(), kTileLanes);
        float* dd = dd16.data();
        if constexpr (std::is_same_v<Tiles, F32Tiles>) {
          // Only the diagonal: lane r sums row r's terms in the f32 product's order and roundings
          // (one multiply-add per column from 0), a sixteenth of the whole product's work.
          load_transposed(g + pb.at(ly.out, h, i0), ly.out.time, rows, d, g16.data(), kTileLanes);
          std::fill(dd, dd + kTileLanes, 0.0f);
          for (int64_t c = 0; c < d; c++) {
            const float* gc = g16.data() + c * kTileLanes;
            const float* oc = ot16.data() + c * kTileLanes;
#pragma omp simd
            for (int64_t r = 0; r < kTileLanes; r++) dd[r] += gc[r] * oc[r];
          }
          std::copy(dd, dd + rows, delta.begin() + i0);
        } else {
          const F32Rows gr = f32_rows(g + pb.at(ly.out, h, i0), ly.out.time, rows, d, d, g16.data(), dp);
          tiles.matmul({gr.data, gr.ld, 1}, ot16.data(), kTileLanes, dd, kTileLanes, rows, kTileLanes, d, false);
          for (int64_t r = 0; r < rows; r++) delta[i0 + r] = dd[r * kTileLanes + r];
        }
      }
      if (dq) std::fill(dqb.data(), dqb.data() + t * dp, 0.0f);
      for (int64_t j0 = 0; j0 < t; j0 += pb.block) {
        const int64_t keys = std::min(pb.block, t - j0), kw = round_to_lanes(keys);
        // K feeds dQ as B (dp columns read).
        const F32Rows kr = f32_rows(k + pb.at(ly.k, h, j0), ly.k.time, keys, d, dp, kb.data(), dp);
        load_transposed(k + pb.at(ly.k, h, j0), ly.k.time, keys, d, kt.data(), kw);
        load_transposed(v + pb.at(ly.v, h, j0), ly.v.time, keys, d, vt.data(), kw);
        std::fill(dkb.data(), dkb.data() + keys * dp, 0.0f);
        std::fill(dvb.data(), dvb.data() + keys * dp, 0.0f);
        // Causal: query blocks before this key block see none of its keys.
        const int64_t first = pb.causal ? j0 : 0;
        for (int64_t i0 = first; i0 < t; i0 += pb.block) {
          const int64_t rows = std::min(pb.block, t - i0);
          load_rows(q + pb.at(ly.q, h, i0), ly.q.time, rows, d, qb.data(), dp, pb.scale);
          // dO feeds dP as A (d columns read) and dV as B (dp columns read).
          const F32Rows gr = f32_rows(g + pb.at(ly.out, h, i0), ly.out.time, rows, d, dp, gb.data(), dp);
          // On the diagonal tile the products skip what the mask hides (see Causal), leaving
          // the masked entries of the score tiles unwritten: the element-wise passes select.
          const bool diagonal = pb.causal && i0 == j0;
          const Causal scores = diagonal ? Causal::kColumnsToRow : Causal::kNone;
          const Causal transposed = diagonal ? Causal::kDepthFromRow : Causal::kNone;
          score_tiles.matmul({qb.data(), dp, 1}, kt.data(), kw, p.data(), kw, rows, kw, d, false, scores, i0 > first);
          // Row r of a diagonal tile is read up to lane limit(r): the products neither write nor
          // read the whole vectors of keys after query r, so the element-wise passes skip them too.
          const auto limit = [&](int64_t r) {
            return diagonal && kLaneExact<Tiles> && kLaneExact<ExactTiles> ? round_to_lanes(r + 1) : kw;
          };
          for (int64_t r = 0; r < rows; r++) {
            const int64_t visible = diagonal ? r + 1 : keys;
            const float shift = lh[i0 + r];
            float* pr = p.data() + r * kw;
#pragma omp simd
            for (int64_t c = 0; c < limit(r); c++) pr[c] = c < visible ? exp_simd(pr[c] - shift) : 0.0f;
          }
          if (dv) tiles.matmul({p.data(), 1, kw}, gr.data, gr.ld, dvb.data(), dp, keys, dp, rows, true, transposed);
          if (!dq && !dk) continue;
          dp_tiles.matmul({gr.data, gr.ld, 1}, vt.data(), kw, ds.data(), kw, rows, kw, d, false, scores, i0 > first);
          for (int64_t r = 0; r < rows; r++) {
            const int64_t visible = diagonal ? r + 1 : keys;
            const float dr = delta[i0 + r];
            const float* pr = p.data() + r * kw;
            float* sr = ds.data() + r * kw;
#pragma omp simd
            for (int64_t c = 0; c < limit(r); c++) sr[c] = c < visible ? pr[c] * (sr[c] - dr) : 0.0f;
          }
          if (dq) {
            exact.matmul({ds.data(), kw, 1}, kr.data, kr.ld, dqb.data() + i0 * dp, dp, rows, dp, keys, true,
                         diagonal ? Causal::kDepthToRow : Causal::kNone);
          }
          if (dk) exact.matmul({ds.data(), 1, kw}, qb.data(), dp, dkb.data(), dp, keys, dp, rows, true, transposed);
        }
        if (dk) store_rows(dkb.data(), dp, keys, d, dk + pb.at(ly.k, h, j0), ly.k.time, 1.0f);
        if (dv) store_rows(dvb.data(), dp, keys, d, dv + pb.at(ly.v, h, j0), ly.v.time, 1.0f);
      }
      if (dq) store_rows(dqb.data(), dp, t, d, dq + pb.at(ly.q, h, 0), ly.q.time, pb.scale);
    }
  });
}

// Calls fn with the tile products for inputs of type T and those for dS (tag objects: each thread
// makes its own): for bf16 inputs AMX where the CPU has it (dS split in two bf16 parts), else bf16
// dot products where it has them (dS in f32), else f32.
template <typename T, typename Fn>
void with_tiles(Fn&& fn) {
  if constexpr (std::is_same_v<T, bf16>) {
    if (has_amx()) return fn(AmxTiles{}, AmxSplitTiles{});
    if (has_bf16_dot()) return fn(Bf16Tiles{}, F32Tiles{});
  }
  fn(F32Tiles{}, F32Tiles{});
}

// attention(dtype, q, k, v, out, lse|null, b, h, t, d, layout, scale, causal, block)
Napi::Value AttentionKernel(const Napi::CallbackInfo& info) {
  Args args(info, "attention", 14);
  DType dt = args.float_dtype(0, "dtype");
  const Problem pb = read_problem(args, 6);
  const Layouts& ly = pb.layout;
  const void* q = operand(args, 1, "q", dt, ly.q, pb);
  const void* k = operand(args, 2, "k", dt, ly.k, pb);
  const void* v = operand(args, 3, "v", dt, ly.v, pb);
  void* out = operand(args, 4, "out", dt, ly.out, pb);
  float* lse = args.is_null(5) ? nullptr : args.tensor(5, "lse", DType::F32, pb.heads() * pb.t).as<float>();
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    with_tiles<T>([&](auto tiles, auto) {
      forward<decltype(tiles)>(static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v),
                               static_cast<T*>(out), lse, pb);
    });
  });
  return info.Env().Undefined();
}

// attentionBackward(dtype, q, k, v, out, lse, grad, dq|null, dk|null, dv|null, b, h, t, d, layout, scale, causal,
// block); grad takes out's layout, dq, dk and dv those of q, k and v.
Napi::Value AttentionBackwardKernel(const Napi::CallbackInfo& info) {
  Args args(info, "attentionBackward", 18);
  DType dt = args.float_dtype(0, "dtype");
  const Problem pb = read_problem(args, 10);
  const Layouts& ly = pb.layout;
  const void* q = operand(args, 1, "q", dt, ly.q, pb);
  const void* k = operand(args, 2, "k", dt, ly.k, pb);
  const void* v = operand(args, 3, "v", dt, ly.v, pb);
  const void* out = operand(args, 4, "out", dt, ly.out, pb);
  const float* lse = args.tensor(5, "lse", DType::F32, pb.heads() * pb.t).as<float>();
  const void* g = operand(args, 6, "grad", dt, ly.out, pb);
  auto optional = [&](size_t i, const char* name, const Layout& l) {
    return args.is_null(i) ? nullptr : operand(args, i, name, dt, l, pb);
  };
  void* dq = optional(7, "dq", ly.q);
  void* dk = optional(8, "dk", ly.k);
  void* dv = optional(9, "dv", ly.v);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    with_tiles<T>([&](auto tiles, auto exact) {
      backward<decltype(tiles), decltype(exact)>(
          static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), static_cast<const T*>(out), lse,
          static_cast<const T*>(g), static_cast<T*>(dq), static_cast<T*>(dk), static_cast<T*>(dv), pb);
    });
  });
  return info.Env().Undefined();
}

}  // namespace

TURBINE_KERNEL(attention, AttentionKernel);
TURBINE_KERNEL(attentionBackward, AttentionBackwardKernel);

}  // namespace turbine
