import { existsSync } from "node:fs";

import type { Command } from "commander";

import { pruneRun } from "../prune/prune_run.js";
import type { StructureKind } from "../prune/structured.js";
import { UsageError } from "./errors.js";

const KINDS: readonly StructureKind[] = ["conv", "linear", "heads"];

/**
 * `turbine prune CHECKPOINT --structured 0.5 --out DIR`: a trained run's model rebuilt without
 * half its conv channels, hidden neurons or attention heads, written as a run folder that
 * `turbine train --resume DIR` fine-tunes. A bad fraction, target or output folder, or a
 * checkpoint path that does not exist, is a usage error (exit 2).
 * @example turbine prune runs/cnn/version_0 --structured 0.5 --targets conv --out runs/cnn-half --steps 500
 */
export function registerPrune(program: Command): void {
  program
    .command("prune")
    .description("rebuild a trained model smaller: remove the weakest conv channels, hidden Linear neurons and attention heads (structured pruning)")
    .argument("<checkpoint>", "a run folder, its checkpoints/ folder or one checkpoint (the newest valid one is pruned)")
    .requiredOption("--structured <fraction>", "share of each layer's channels, neurons or heads removed (above 0, below 1)")
    .requiredOption("--out <dir>", "the new run folder (config.json and checkpoints/step-00000000); must not exist or be empty")
    .option("--targets <list>", `what is removed, comma-separated: ${KINDS.join(", ")} (default: all the model has)`)
    .option("--steps <n>", "fine-tuning steps of the new run (train.steps; default: the original run's length)")
    .action((path: string, opts: { structured: string; out: string; targets?: string; steps?: string }) => {
      const fraction = Number(opts.structured);
      if (opts.structured.trim() === "" || !(fraction > 0 && fraction < 1)) {
        throw new UsageError(`prune: --structured ${opts.structured} must be a fraction above 0 and below 1`, "e.g. --structured 0.5 removes half");
      }
      const targets = (opts.targets ?? KINDS.join(",")).split(",").map((t) => t.trim());
      const unknown = targets.find((t) => !KINDS.includes(t as StructureKind));
      if (unknown !== undefined) throw new UsageError(`prune: --targets ${JSON.stringify(unknown)} is not a kind of structure; allowed: ${KINDS.join(", ")}`);
      const steps = opts.steps === undefined ? undefined : Number(opts.steps);
      if (steps !== undefined && !(Number.isSafeInteger(steps) && steps >= 1)) throw new UsageError(`prune: --steps ${opts.steps} must be a positive integer`);
      if (!existsSync(path)) throw new UsageError(`prune: ${path} does not exist`, "give a run folder such as runs/cnn/version_0 or one of its checkpoints");
      const done = pruneRun(path, { fraction, targets: targets as StructureKind[], out: opts.out, ...(steps ? { steps } : {}) }, (line) =>
        process.stderr.write(`prune: ${line}\n`),
      );
      const { before, after } = done.parameters;
      process.stdout.write(
        `${done.config.model.kind}: ${before.toLocaleString("en-US")} → ${after.toLocaleString("en-US")} parameters (${((100 * after) / before).toFixed(1)}%)\n` +
          `wrote ${done.dir} (config.json, ${done.checkpoint}); fine-tune with: turbine train --resume ${done.dir}\n`,
      );
    });
}
