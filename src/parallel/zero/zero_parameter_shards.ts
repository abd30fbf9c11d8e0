import type { Optimizer } from "../../optim/optimizer.js";
import type { ParameterShards, SliceOfParameter } from "../../optim/parameter_shards.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import type { ShardOptimizerState } from "./shard_optimizer_state.js";

/**
 * ZeRO's answer to an optimizer that needs whole-parameter quantities (ParameterShards): which
 * parameter each of this rank's master slices belongs to (numbered in unit order, the same on
 * every rank), an all-reduce for per-parameter sums, and whole values gathered with one
 * all-gather of the chunks per unit, the layout of the parameters' own all-gather.
 *
 * @example
 * shard.bind(optimizer);
 * optimizer.shardWith(new ZeroParameterShards(shard, optimizer, group));
 */
export class ZeroParameterShards implements ParameterShards {
  readonly parameterCount: number;
  private readonly slices = new Map<Tensor, SliceOfParameter>();

  constructor(
    private readonly shard: ShardOptimizerState,
    private readonly optimizer: Optimizer<any>,
    private readonly group: ProcessGroup,
  ) {
    const index = new Map(shard.units.flatMap((u) => u.params).map((p, i) => [p, i]));
    this.parameterCount = index.size;
    for (const s of shard.slices.flat()) this.slices.set(s.master, { whole: s.param, index: index.get(s.param)!, start: s.paramStart });
  }

  sliceOf(t: Tensor): SliceOfParameter | undefined {
    return this.slices.get(t);
  }

  wholeParams(group: number): readonly Tensor[] {
    return this.shard.originalParams(this.optimizer, group);
  }

  sumOverRanks(values: Float32Array): void {
    const t = Tensor.empty([values.length], "float32", "optimizer");
    t.toHost().set(values);
    this.group.allReduce(t, "sum");
    values.set(t.toHost());
    t.dispose();
  }

  gatherWhole(wanted: (whole: Tensor) => boolean, valuesOf: (slice: Tensor) => Tensor | null): Map<Tensor, Tensor> {
    const size = this.group.size;
    const gathers = this.shard.units.flatMap((unit, u) => {
      if (!unit.params.some(wanted)) return [];
      const mine = Tensor.empty([unit.chunk], "float32", "optimizer");
      const chunk = mine.toHost().fill(0);
      for (const s of this.shard.slices[u]!) {
        const values = wanted(s.param) ? valuesOf(s.master) : null;
        if (values) chunk.set(values.toHost(), s.chunkStart);
      }
      const flat = Tensor.empty([unit.chunk * size], "float32", "optimizer");
      return [{ u, mine, flat, work: this.group.allGather(flat, mine, { async: true }) }];
    });
    const whole = new Map<Tensor, Tensor>();
    for (const { u, mine, flat, work } of gathers) {
      work.wait();
      const unit = this.shard.units[u]!;
      for (const s of this.shard.slices[u]!) {
        if (!wanted(s.param)) continue;
        const at = unit.offsets[unit.params.indexOf(s.param)]!;
        const values = Tensor.empty(s.param.shape, "float32", "optimizer");
        values.toHost().set(flat.toHost().subarray(at, at + s.param.size));
        whole.set(s.param, values);
      }
      mine.dispose();
      flat.dispose();
    }
    return whole;
  }
}
