import { performance } from "node:perf_hooks";

import type { ProcessGroup, Work } from "../parallel/process_group.js";
import { type CollectiveKind, WrappedGroup } from "../parallel/wrapped_group.js";
import { DTYPES } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import type { StepRecorder } from "./recorder.js";

/** What a TracingGroup reports to: a StepRecorder, or anything that takes the same records. */
export type CollectiveSink = Pick<StepRecorder, "isRecording" | "collective" | "blocked">;

/**
 * A ProcessGroup that reports each collective to a StepRecorder while it records: kind, this
 * rank's input bytes, when it was issued and when it was first seen complete, and the stretches
 * the calling thread spent blocked in it (the call itself, then `wait()`; on the threads backend
 * a rank's queued collectives run inside its waits). Completion of an asynchronous collective is
 * seen when its Work says so (DDP and ZeRO poll `isCompleted()` between backward's nodes) or its
 * wait returns, whichever is first. Sub-groups report to the same recorder.
 *
 * @example
 * const traced = new TracingGroup(await initProcessGroup(), recorder);
 * runTraining(config, { group: traced });
 */
export class TracingGroup extends WrappedGroup {
  constructor(
    inner: ProcessGroup,
    private readonly recorder: CollectiveSink,
  ) {
    super(inner);
  }

  protected wrapSub(sub: ProcessGroup): ProcessGroup {
    return new TracingGroup(sub, this.recorder);
  }

  protected around(kind: CollectiveKind, input: Tensor | null, call: () => Work): Work {
    if (!this.recorder.isRecording) return call();
    const recorder = this.recorder;
    const start = performance.now();
    const work = call();
    const issued = performance.now();
    recorder.blocked({ kind, how: "call", start, end: issued });
    const record = { kind, bytes: input ? input.size * DTYPES[input.dtype].bytes : 0, start, end: issued };
    let done = work.isCompleted();
    recorder.collective(record);
    return {
      wait(): void {
        const from = performance.now();
        try {
          work.wait();
        } finally {
          const to = performance.now();
          recorder.blocked({ kind, how: "wait", start: from, end: to });
          if (!done) record.end = to;
          done = true;
        }
      },
      isCompleted(): boolean {
        const from = performance.now();
        const complete = work.isCompleted();
        const to = performance.now();
        // Polling may progress the collective (mpi); that time is communication too.
        recorder.blocked({ kind, how: "wait", start: from, end: to });
        if (complete && !done) {
          record.end = to;
          done = true;
        }
        return complete;
      },
    };
  }
}
