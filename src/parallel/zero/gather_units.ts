import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import type { Unit } from "./partition.js";

/**
 * All-gathers every unit's chunks of the master weights (`masters[u]`, this rank's) over `group`
 * and copies the gathered values into the units' parameters: after a ZeRO-1/2 step.
 * @example allGatherUnits(zero.units, zero.shard.masters, group);
 */
export function allGatherUnits(units: readonly Unit[], masters: readonly Tensor[], group: ProcessGroup): void {
  const size = group.size;
  const gathered = units.map((unit, u) => {
    const flat = Tensor.empty([unit.chunk * size], "float32", "parameter");
    return { flat, work: group.allGather(flat, masters[u]!, { async: true }) };
  });
  units.forEach((unit, u) => {
    const { flat, work } = gathered[u]!;
    work.wait();
    const values = flat.toHost();
    unit.params.forEach((p, i) => {
      p.toHost().set(values.subarray(unit.offsets[i]!, unit.offsets[i]! + p.size));
      p.version++;
    });
    flat.dispose();
  });
}
