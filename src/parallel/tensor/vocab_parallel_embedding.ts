import { mul } from "../../ops/binary.js";
import { embedding } from "../../ops/embedding.js";
import { reshape } from "../../ops/view.js";
import type { Embedding } from "../../nn/embedding.js";
import { fromTypedArray } from "../../tensor/create.js";
import { release } from "../../tensor/scope.js";
import { formatShape } from "../../tensor/shape.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import { reduceFromRegion, reduceScatterToRegion } from "../region_ops.js";
import { TensorParallelModule } from "./parallel_module.js";
import { splitOf } from "./split.js";

/**
 * Megatron's vocabulary-parallel embedding: this rank holds rows [rank·V/t, (rank+1)·V/t) of
 * the table (a vocabulary padded with zero rows to a multiple of the ranks), looks up the ids
 * that fall in its rows, zeroes the others, and the ranks' lookups are summed (all-reduce; with
 * `sequenceParallel` reduce-scattered over the flattened tokens, each rank keeping its chunk of
 * rows [B·T/t, D]). Built from a full Embedding's weights (meta ones stay meta until `nn.materialize` fills this rank's rows).
 * @example const tokens = new VocabParallelEmbedding(deferInit(() => new Embedding(65, 256)), tp);
 */
export class VocabParallelEmbedding extends TensorParallelModule {
  readonly weight: Tensor;
  /** The true vocabulary (rows of the full table, without padding). */
  readonly count: number;

  constructor(
    full: Embedding,
    group: ProcessGroup,
    readonly options: { sequenceParallel?: boolean } = {},
  ) {
    super(group);
    const split = { dim: 0, blocks: 1 };
    this.count = full.count;
    this.weight = this.addSplitParameter("weight", splitOf(full.weight, split, group), split, full.weight.shape);
  }

  forward(ids: Tensor): Tensor {
    if (ids.dtype !== "int32") throw new TypeError(`VocabParallelEmbedding: ids must be int32, got ${ids.dtype} ${formatShape(ids.shape)}`);
    const rows = this.weight.shape[0]!,
      first = this.group.rank * rows;
    const local = new Int32Array(ids.size),
      keep = new Float32Array(ids.size);
    const all = ids.toHost() as Int32Array;
    for (let i = 0; i < all.length; i++) {
      const id = all[i]!;
      if (!(id >= 0 && id < this.count)) throw new RangeError(`VocabParallelEmbedding: id ${id} is outside the vocabulary [0, ${this.count})`);
      const row = id - first;
      // Another rank's id reads row 0 here and is zeroed: its gradient then adds nothing.
      if (row >= 0 && row < rows) {
        local[i] = row;
        keep[i] = 1;
      }
    }
    const localIds = fromTypedArray(local, ids.shape),
      mask = fromTypedArray(keep, [...ids.shape, 1], this.weight.dtype === "float32" ? "float32" : undefined);
    const looked = embedding(localIds, this.weight);
    const mine = mul(looked, mask);
    if (!this.options.sequenceParallel) return release(reduceFromRegion(mine, this.group), localIds, mask, looked, mine);
    const flat = reshape(mine, [ids.size, this.weight.shape[1]!]);
    return release(reduceScatterToRegion(flat, this.group, { dim: 0 }), localIds, mask, looked, mine, flat);
  }
}
