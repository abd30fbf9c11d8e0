import type { PieceSet, StrategyState } from "../../src/parallel/state.js";
import type { Tensor } from "../../src/tensor/tensor.js";

/**
 * A one-rank StrategyState holding plain named tensors whole (no optimizer): what tests that
 * only care about the files write.
 * @example saveCheckpoint(dir, { state: tensorsState({ w: tensor([1, 2]) }), meta: { step: 1, epoch: 0 } });
 */
export function tensorsState(model: Record<string, Tensor>): StrategyState {
  const pieces: PieceSet = {};
  for (const [name, t] of Object.entries(model)) pieces[name] = { shape: t.shape, start: 0, data: t.viewAs([t.size]) };
  return { model: pieces, optimizer: {}, steps: {}, paramGroups: [], layout: "single" };
}

/**
 * One of `size` ranks' pieces of the same named tensors, cut as ZeRO cuts them: the
 * concatenation of every tensor's elements split into `size` nearly equal ranges, each rank's
 * range giving a piece of every tensor it overlaps (so a tensor may be split unevenly, or lie
 * on one rank whole).
 * @example const rank1 = flatShardState({ w, b }, 1, 2);
 */
export function flatShardState(model: Record<string, Tensor>, rank: number, size: number, optimizer: Record<string, Tensor> = {}): StrategyState {
  const cut = (tensors: Record<string, Tensor>): PieceSet => {
    const total = Object.values(tensors).reduce((n, t) => n + t.size, 0);
    const from = Math.floor((total * rank) / size),
      to = Math.floor((total * (rank + 1)) / size);
    const pieces: PieceSet = {};
    let offset = 0;
    for (const [name, t] of Object.entries(tensors)) {
      const a = Math.max(from, offset),
        b = Math.min(to, offset + t.size);
      if (a < b) pieces[name] = { shape: t.shape, start: a - offset, data: t.viewRange(a - offset, [b - a]) };
      offset += t.size;
    }
    return pieces;
  };
  return { model: cut(model), optimizer: cut(optimizer), steps: {}, paramGroups: [], layout: `test-${size}` };
}
