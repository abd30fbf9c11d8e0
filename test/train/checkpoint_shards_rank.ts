/**
 * One rank of the sharded checkpoint tests: it writes its ZeRO-style cut (flatShardState) of
 * fixed tensors of uneven sizes as its part of a checkpoint, with the other ranks.
 */
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { disposeState } from "../../src/parallel/state.js";
import { arange } from "../../src/tensor/create.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { saveCheckpoint } from "../../src/train/checkpoint.js";
import { flatShardState } from "../helpers/checkpoint_state.js";

export interface ShardArgs {
  dir: string;
  /** This rank throws while writing its part (a bad piece). */
  failRank?: number;
  /** This rank leaves out its piece of 'w', so the pieces no longer tile it. */
  gapRank?: number;
}

/** Model tensors of 15, 7 and 4 elements and optimizer tensors of 15 and 7 (values: their element indices + an offset per tensor). */
export function shardTensors(): { model: Record<string, Tensor>; optimizer: Record<string, Tensor> } {
  const t = (offset: number, shape: number[]) => arange(offset, offset + shape.reduce((a, b) => a * b, 1)).viewAs(shape);
  return {
    model: { w: t(0, [3, 5]), b: t(100, [7]), e: t(200, [2, 2]) },
    optimizer: { "w.expAvg": t(300, [3, 5]), "b.expAvg": t(400, [7]) },
  };
}

export function run(group: ProcessGroup, args: ShardArgs): string {
  const { model, optimizer } = shardTensors();
  const state = flatShardState(model, group.rank, group.size, optimizer);
  if (group.rank === args.failRank) state.model.b = { shape: [7], start: 5, data: arange(0, 9) };
  if (group.rank === args.gapRank) delete state.model.w;
  try {
    saveCheckpoint(args.dir, { state, meta: { step: 3, epoch: 0 } }, group);
    return "saved";
  } catch (error) {
    return (error as Error).message;
  } finally {
    disposeState(state);
  }
}
