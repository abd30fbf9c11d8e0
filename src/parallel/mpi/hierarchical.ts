import { createHash } from "node:crypto";
import { readlinkSync } from "node:fs";
import { hostname } from "node:os";

import { Tensor } from "../../tensor/tensor.js";
import { gatherArrays } from "../compression/gather.js";
import type { CollectiveOptions, ProcessGroup, ReduceOp, Work } from "../process_group.js";
import { type CollectiveKind, WrappedGroup } from "../wrapped_group.js";

/** Overrides this process's machine identity (tests and benches that simulate machines). */
export const HOST_ID_ENV = "TURBINE_HOST_ID";

/**
 * This process's machine: TURBINE_HOST_ID when set, else the host name with the network
 * namespace (ranks in different namespaces reach each other only over a network, as on two
 * machines: that is what Open MPI sees too).
 * @example machineId()   // "node7/net:[4026531840]"
 */
export function machineId(): string {
  const override = process.env[HOST_ID_ENV];
  if (override) return override;
  let namespace = "";
  try {
    namespace = readlinkSync("/proc/self/ns/net");
  } catch {
    // No /proc (not Linux): the host name alone.
  }
  return `${hostname()}/${namespace}`;
}

/** Ranks of `group` on each machine, in order of each machine's first rank; each list ascending. */
function ranksByMachine(group: ProcessGroup, id: string): number[][] {
  const digest = createHash("sha256").update(id).digest(),
    all = gatherArrays(group, new Int32Array([digest.readInt32LE(0), digest.readInt32LE(4)]), "int32");
  const machines = new Map<string, number[]>();
  for (let r = 0; r < group.size; r++) {
    const key = `${all[2 * r]}:${all[2 * r + 1]}`;
    machines.set(key, [...(machines.get(key) ?? []), r]);
  }
  return [...machines.values()];
}

/** Runs the phases one after another; isCompleted starts each as the previous ends, so it progresses while polled. */
class ChainedWork implements Work {
  private current: Work | null = null;
  private next = 0;

  constructor(private readonly phases: (() => Work | null)[]) {
    this.advance(false);
  }

  wait(): void {
    this.advance(true);
  }

  isCompleted(): boolean {
    return this.advance(false);
  }

  /** Starts phases while the running one is done (waiting for it when `block`); true once all are. */
  private advance(block: boolean): boolean {
    for (;;) {
      if (this.current) {
        if (block) this.current.wait();
        else if (!this.current.isCompleted()) return false;
        this.current = null;
      }
      if (this.next === this.phases.length) return true;
      this.current = this.phases[this.next++]!();
    }
  }
}

/**
 * A group whose all-reduce follows the machines (Horovod's hierarchical all-reduce, per chunk as
 * NCCL's): a reduce-scatter among the ranks of each machine (shared memory under Open MPI),
 * then each rank all-reduces its chunk with the ranks of the same local index on the other
 * machines, then an all-gather inside each machine. Every machine's link then carries the
 * tensor once each way (in chunks, in parallel) instead of a flat ring's 2(n−1)/n times, however
 * many ranks the machine holds. Every other collective, and sub-groups, are the flat group's.
 * It needs the same number of ranks on every machine.
 *
 * @example
 * const group = HierarchicalGroup.over(world);   // null: one machine, or one rank per machine
 * (group ?? world).allReduce(grad, "mean");
 */
export class HierarchicalGroup extends WrappedGroup {
  private constructor(
    inner: ProcessGroup,
    /** The ranks on this rank's machine. */
    private readonly local: ProcessGroup,
    /** The ranks of the same local index, one per machine. */
    private readonly cross: ProcessGroup,
  ) {
    super(inner);
  }

  /**
   * The hierarchical group over `group` (a collective call on every rank): with `force` unset,
   * null unless ranks share machines and there is more than one machine; `force` false, null;
   * `force` true, the hierarchy whatever the layout. Machines with different numbers of ranks
   * are an error when forced and flat otherwise.
   */
  static over(group: ProcessGroup, options: { force?: boolean; machine?: string } = {}): HierarchicalGroup | null {
    if (options.force === false) return null;
    const machines = ranksByMachine(group, options.machine ?? machineId()),
      perMachine = machines[0]!.length,
      even = machines.every((m) => m.length === perMachine);
    if (options.force === undefined && (machines.length === 1 || perMachine === 1 || !even)) return null;
    if (!even)
      throw new RangeError(
        `parallel.hierarchical: every machine needs the same number of ranks; got ${machines.map((m) => m.length).join(", ")} on ${machines.length} machines`,
      );
    let local: ProcessGroup | null = null,
      cross: ProcessGroup | null = null;
    for (const ranks of machines) local = group.newGroup(ranks) ?? local;
    for (let index = 0; index < perMachine; index++) cross = group.newGroup(machines.map((m) => m[index]!)) ?? cross;
    return new HierarchicalGroup(group, local!, cross!);
  }

  override allReduce(tensor: Tensor, op: ReduceOp = "sum", options?: CollectiveOptions): Work {
    const ranks = this.local.size,
      chunk = Math.ceil(tensor.size / ranks),
      padded = Tensor.empty([chunk * ranks], tensor.dtype, "gradient"),
      mine = Tensor.empty([chunk], tensor.dtype, "gradient");
    padded.toHost().fill(0);
    padded.toHost().set(tensor.toHost());
    // Mean over equal machines is the mean of the machines' means; sum and max compose as they are.
    const work = new ChainedWork([
      () => this.local.reduceScatter(mine, padded, op, { async: true }),
      () => this.cross.allReduce(mine, op, { async: true }),
      () => this.local.allGather(padded, mine, { async: true }),
      () => {
        tensor.toHost().set(padded.toHost().subarray(0, tensor.size));
        padded.dispose();
        mine.dispose();
        return null;
      },
    ]);
    if (options?.async !== true) work.wait();
    return work;
  }

  protected around(_kind: CollectiveKind, _input: Tensor | null, call: () => Work): Work {
    return call();
  }

  protected wrapSub(sub: ProcessGroup): ProcessGroup {
    return sub;
  }

  override destroy(): void {
    this.local.destroy();
    this.cross.destroy();
    super.destroy();
  }
}
