import { concat, slice, split } from "../../ops/layout.js";
import { zeros } from "../../tensor/create.js";
import type { ExpertRunner } from "../../nn/moe_routing.js";
import { MixtureOfExperts } from "../../nn/moe.js";
import type { Module } from "../../nn/module.js";
import { materializeInPlace } from "../../tensor/materialize.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import { allToAllRegion } from "./all_to_all_region.js";

/** Each expert's block (the experts with rows) padded with zero rows to `capacity`: [experts · capacity, width]. */
function padToCapacity(blocks: readonly Tensor[], rows: readonly number[], capacity: number): Tensor {
  const width = blocks[0]!.shape[1]!;
  let next = 0;
  const padded = rows.flatMap((n) => [
    ...(n > 0 ? [blocks[next++]!] : []),
    ...(n < capacity ? [zeros([capacity - n, width], { dtype: blocks[0]!.dtype })] : []),
  ]);
  return concat(padded);
}

/** The inverse of padToCapacity: each expert's first `rows[e]` rows of its capacity, one block per expert with rows. */
function unpad(padded: Tensor, rows: readonly number[], capacity: number): Tensor[] {
  // Pieces kept, padding, kept, padding, … with the empty ones left out.
  const sizes = rows.flatMap((n) => [n, capacity - n]);
  const pieces = split(
    padded,
    sizes.filter((n) => n > 0),
  );
  const kept = sizes.flatMap((n, i) => (n > 0 ? [i % 2 === 0] : []));
  return pieces.filter((_, i) => kept[i]);
}

/**
 * An ExpertRunner for expert parallelism: the `experts` are split into equal consecutive blocks
 * over `group`, this rank running `local` (its block, in order). Every rank's dispatched rows,
 * each expert's padded with zero rows to the capacity, go to the experts' owners by an
 * all-to-all, each owner runs its experts on the rows of every rank, and a second all-to-all
 * brings the outputs back (the padding is cut off). All ranks route the same number of tokens,
 * so every expert has the same capacity on every rank and the exchange has equal blocks: a batch
 * where every token picks one expert changes what the rows hold, never their number.
 * @example moe.expertRunner = expertParallelRunner(myExperts.map((m) => (h) => m.forward(h)), 4, group);
 */
export function expertParallelRunner(local: readonly ((rows: Tensor) => Tensor)[], experts: number, group: ProcessGroup): ExpertRunner {
  if (local.length * group.size !== experts) {
    throw new RangeError(
      `expert parallelism: ${experts} experts do not split into ${group.size} ranks of ${local.length} (experts must divide by the expert group's size)`,
    );
  }
  return (blocks, rows, capacity) => {
    const atOwners = allToAllRegion(padToCapacity(blocks, rows, capacity), group);
    // Block s holds rank s's rows for this rank's experts, expert j's at [(s·local + j)·capacity, +capacity).
    const outputs: Tensor[] = [];
    for (let s = 0; s < group.size; s++) {
      for (const [j, expert] of local.entries()) {
        const start = (s * local.length + j) * capacity;
        outputs.push(expert(slice(atOwners, 0, start, start + capacity)));
      }
    }
    return unpad(allToAllRegion(concat(outputs), group), rows, capacity);
  };
}

/**
 * Makes `moe` run expert-parallel over `group`: this rank runs experts
 * [rank · n/size, (rank+1) · n/size) and exchanges tokens with the others. The other experts'
 * parameters stay in the module but get no gradient here.
 * @example shardExperts(block.moe, expertGroup);
 */
export function shardExperts(moe: MixtureOfExperts, group: ProcessGroup): void {
  const per = moe.options.experts / group.size;
  const mine = moe.experts.items.slice(group.rank * per, (group.rank + 1) * per);
  moe.expertRunner = expertParallelRunner(
    mine.map((m) => (rows: Tensor) => m.forward(rows)),
    moe.options.experts,
    group,
  );
}

/**
 * Every MixtureOfExperts of a model (in module order).
 * @example for (const moe of mixturesOf(gpt)) shardExperts(moe, group);
 */
export function mixturesOf(model: Module): MixtureOfExperts[] {
  return model.namedModules().flatMap(([, m]) => (m instanceof MixtureOfExperts ? [m] : []));
}

/** The parameters of the experts of every mixture of `model` (whichever rank holds them). */
export function expertParameters(model: Module): Set<Tensor> {
  return new Set(mixturesOf(model).flatMap((moe) => moe.experts.parameters()));
}

/**
 * Places a model (best built under `nn.deferInit`) for expert parallelism over `group`: every
 * mixture runs its experts sharded (`shardExperts`), and the rank materialises everything but
 * the other ranks' experts, which stay meta (no memory; eager init's values for the rest, from
 * the seed). Throws a RangeError naming the numbers when the experts do not divide by the group.
 * @example const gpt = nn.deferInit(() => new models.GPT({ ...config, moe })); placeExperts(gpt, mesh.groups.expert);
 */
export function placeExperts(model: Module, group: ProcessGroup): void {
  const others = new Set<Tensor>();
  for (const moe of mixturesOf(model)) {
    shardExperts(moe, group);
    const per = moe.options.experts / group.size;
    moe.experts.items.forEach((expert, i) => {
      if (Math.floor(i / per) !== group.rank) for (const t of expert.parameters()) others.add(t);
    });
  }
  for (const [, t] of [...model.namedParameters(), ...model.namedBuffers()]) if (t.isMeta && !others.has(t)) materializeInPlace(t);
}
