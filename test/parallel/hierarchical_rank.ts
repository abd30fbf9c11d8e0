/**
 * One rank of the hierarchical all-reduce tests: the same tensors all-reduced flat and by
 * machine (sum, mean, max; the hierarchical ones asynchronously, polled as DDP polls), and what
 * HierarchicalGroup.over decides for other layouts.
 */
import { HierarchicalGroup } from "../../src/parallel/mpi/hierarchical.js";
import type { ProcessGroup, ReduceOp } from "../../src/parallel/process_group.js";
import { fromTypedArray } from "../../src/tensor/create.js";

export interface HierarchicalArgs {
  /** This rank's machine by rank, or null for the real identity (machineId). */
  machines: string[] | null;
  size: number;
}

export interface HierarchicalRun {
  /** Whether the group was hierarchical. */
  hierarchical: boolean;
  /** Per op: the flat result and the hierarchical one. */
  results: { op: ReduceOp; flat: number[]; byMachine: number[] }[];
  /** What over() gave for one machine, for force false, and the error for uneven machines forced. */
  oneMachine: boolean;
  forcedOff: boolean;
  unevenError: string;
}

/** Integer-valued entries, so sums are exact in any order. */
const values = (size: number, rank: number): Float32Array => Float32Array.from({ length: size }, (_, i) => ((i * 7 + rank * 13) % 23) - 11);

export function run(group: ProcessGroup, args: HierarchicalArgs): HierarchicalRun {
  const machine = args.machines?.[group.rank];
  const byMachine = HierarchicalGroup.over(group, machine === undefined ? {} : { machine });
  const results = (["sum", "mean", "max"] as const).map((op) => {
    const flat = fromTypedArray(values(args.size, group.rank), [args.size], "float32"),
      mine = fromTypedArray(values(args.size, group.rank), [args.size], "float32");
    group.allReduce(flat, op);
    const work = (byMachine ?? group).allReduce(mine, op, { async: true });
    // Polled as DDP polls between backward's nodes, then waited for.
    for (let i = 0; i < 3; i++) work.isCompleted();
    work.wait();
    return { op, flat: Array.from(flat.toHost()), byMachine: Array.from(mine.toHost()) };
  });
  let unevenError = "";
  try {
    HierarchicalGroup.over(group, { machine: group.rank === 0 ? "a" : "b", force: true });
  } catch (error) {
    unevenError = (error as Error).message;
  }
  return {
    hierarchical: byMachine !== null,
    results,
    oneMachine: HierarchicalGroup.over(group, { machine: "one" }) !== null,
    forcedOff: HierarchicalGroup.over(group, { force: false }) !== null,
    unevenError,
  };
}
