// The ZeRO equivalence check shared by the threads and mpi tests: DDP on `size` ranks, then
// ZeRO stages 1 to 3 on as many, 20 AdamW steps with clipping and accumulation 2 (zero_rank.ts).
import assert from "node:assert/strict";

import { assertClose, F32 } from "../helpers/compare.js";
import type { ZeroArgs, ZeroResult } from "./zero_rank.js";

/** Trainable elements of zero_rank.ts's MLP (20 → 48 → 31 → 5). */
const PARAMETERS = 20 * 48 + 48 + 48 * 31 + 31 + 31 * 5 + 5;

export async function assertZeroMatchesDdp(
  train: (size: number, args: ZeroArgs) => ZeroResult[] | Promise<ZeroResult[]>,
  size: number,
  what: string,
): Promise<void> {
  const args = { steps: 20, globalBatch: 36, accumulate: 2 };
  const [ddp] = await train(size, { ...args, zero: 0 });
  assert.ok(ddp!.losses[19]! < ddp!.losses[0]!, "the model learns");
  for (const stage of [1, 2, 3] as const) {
    const ranks = await train(size, { ...args, zero: stage });
    assert.ok(ranks[0]!.units > 2, `several units (${ranks[0]!.units})`);
    // Stages 2 and 3 issue a unit's reduce-scatter while later gradients are still being computed; stage 1 at the end.
    assert.equal(ranks[0]!.duringBackward > 0, stage >= 2, `${what} stage ${stage}: ${ranks[0]!.duringBackward} reduce-scatters during backward`);
    let state = 0;
    for (const [r, result] of ranks.entries()) {
      result.params.forEach((p, i) => assertClose(p, ddp!.params[i]!, F32, `${what}: ZeRO-${stage} on ${size} ranks: rank ${r} parameter ${i}`));
      assert.deepEqual(result.params, ranks[0]!.params, "every rank ends with the same parameters");
      assert.equal(result.fullGradsAfterSync, 0, "the full gradients are freed once reduce-scattered");
      assert.equal(result.freedBetweenSteps, stage === 3 ? args.steps : 0, `stage ${stage}: steps after which the parameters were freed`);
      // Adam's two moments for this rank's chunk only (padding aside).
      assert.ok(result.stateElements <= (2 * PARAMETERS) / size + 2 * 5, `rank ${r} holds ${result.stateElements} state elements`);
      state += result.stateElements;
    }
    assert.equal(state, 2 * PARAMETERS, "the ranks' optimizer states partition the model's");
  }
}
