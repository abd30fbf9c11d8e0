import type { Strategy } from "../parallel/strategy.js";
import { CompiledMicroBatches } from "./compiled_micro_batches.js";
import type { Batch } from "./task.js";
import type { TrainerOptions } from "./trainer_options.js";

/**
 * The compiled step of a Trainer under TrainerOptions.compile (null: eager): its micro-batches'
 * forward and backward, then `optimizerPart` (the Trainer's unscaling, clipping, optimizer,
 * pruner and scheduler steps) as the compiled step's host part.
 * @example const compiled = compiledStepOf(options, strategy, () => optimizer.step());
 */
export function compiledStepOf(options: TrainerOptions, strategy: Strategy, optimizerPart: () => void): CompiledMicroBatches | null {
  if (!options.compile) return null;
  return new CompiledMicroBatches({
    ...options,
    strategy,
    precision: options.precision ?? "float32",
    gradScaler: options.gradScaler ?? null,
    optimizerPart,
    ...options.compile,
  });
}

/**
 * Runs one compiled step on its `micro` batches, taken together from `next(i)` (the compiled step
 * takes all of a step's micro-batches at once) and disposed after; returns each one's unweighted loss.
 * @example const losses = runCompiledStep(compiled, 2, (i) => batches[i]!);
 */
export function runCompiledStep(compiled: CompiledMicroBatches, micro: number, next: (i: number) => Batch): number[] {
  const batches: Batch[] = [];
  try {
    for (let i = 0; i < micro; i++) batches.push(next(i));
    return compiled.run(batches);
  } finally {
    for (const b of batches) {
      b.x.dispose();
      b.y.dispose();
    }
  }
}
