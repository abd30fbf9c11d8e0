/**
 * One rank of the planner's collective-wait calibration (step_efficiency.ts): the reference
 * step under a layout (tensor parallelism, ZeRO-3), its collectives of one kind (all-reduces,
 * all-gathers) timed from their call to the end of their wait over the timed steps, while the
 * other rank does the same.
 */
import { performance } from "node:perf_hooks";

import type { ProcessGroup, Work } from "../parallel/process_group.js";
import { type CollectiveKind, WrappedGroup } from "../parallel/wrapped_group.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Config } from "../train/config.js";
import { measureRun } from "./measured_run.js";

/** Blocked seconds and count of the collectives of `kind` seen while `on`, across a group and its sub-groups. */
interface Tally {
  kind: CollectiveKind;
  on: boolean;
  seconds: number;
  calls: number;
}

/** A group that adds each collective's blocked time (its call and its wait) to a tally. */
class CollectiveClock extends WrappedGroup {
  constructor(
    inner: ProcessGroup,
    private readonly tally: Tally,
  ) {
    super(inner);
  }

  protected wrapSub(sub: ProcessGroup): ProcessGroup {
    return new CollectiveClock(sub, this.tally);
  }

  protected around(kind: CollectiveKind, _input: Tensor | null, call: () => Work): Work {
    if (!this.tally.on || kind !== this.tally.kind) return call();
    const tally = this.tally;
    const start = performance.now();
    const work = call();
    tally.seconds += (performance.now() - start) / 1000;
    tally.calls++;
    return {
      wait(): void {
        const from = performance.now();
        try {
          work.wait();
        } finally {
          tally.seconds += (performance.now() - from) / 1000;
        }
      },
      isCompleted: () => work.isCompleted(),
    };
  }
}

/** This rank's mean blocked seconds per collective of `kind` over the timed steps of `config`. */
export function run(group: ProcessGroup, args: { config: Config; kind: CollectiveKind; warmup: number; steps: number }): number {
  const tally: Tally = { kind: args.kind, on: false, seconds: 0, calls: 0 };
  measureRun(args.config, new CollectiveClock(group, tally), {
    warmup: args.warmup,
    steps: args.steps,
    afterWarmup: () => {
      tally.on = true;
    },
  });
  if (tally.calls === 0) throw new Error(`plan calibration: the reference step ran no ${args.kind}`);
  return tally.seconds / tally.calls;
}
