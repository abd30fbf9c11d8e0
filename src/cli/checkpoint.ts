import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

import type { Command } from "commander";

import { MANIFEST } from "../train/checkpoint_files.js";
import { consolidateCheckpoint } from "../train/consolidate.js";
import { formatBytes } from "../train/memory_report.js";
import { UsageError } from "./errors.js";

/**
 * `turbine checkpoint consolidate DIR OUT.safetensors`: one plain safetensors file of the model
 * from a checkpoint written by any number of ranks in any layout. DIR that is no checkpoint,
 * run folder or checkpoints/ folder, or an OUT elsewhere than an existing folder or inside a
 * checkpoint, is a usage
 * error (exit 2); a corrupt checkpoint fails naming its file (exit 1).
 * @example turbine checkpoint consolidate runs/gpt-char/version_0 gpt.safetensors
 */
export function registerCheckpoint(program: Command): void {
  const checkpoint = program.command("checkpoint").description("work with checkpoints");
  checkpoint
    .command("consolidate")
    .description("write a checkpoint's model, whatever world size and layout wrote it, as one plain safetensors file")
    .argument("<dir>", "one checkpoint (step-N folder), or a run folder or its checkpoints/ folder (the newest valid checkpoint)")
    .argument("<out>", "the .safetensors file to write")
    .action((dir: string, out: string) => {
      const single = existsSync(join(dir, "meta.json"));
      const isFolder = existsSync(dir) && statSync(dir).isDirectory();
      if (!isFolder || !(single || existsSync(join(dir, "checkpoints")) || /(^|\/)checkpoints\/?$/.test(dir))) {
        throw new UsageError(
          `checkpoint consolidate: ${dir} is ${isFolder ? "not a checkpoint (no meta.json), a run folder (no checkpoints/) or a checkpoints/ folder" : "not a folder"}`,
          "give a step-N checkpoint folder or a run folder such as runs/gpt-char/version_0",
        );
      }
      if (!out.endsWith(".safetensors")) throw new UsageError(`checkpoint consolidate: the output ${out} must end in .safetensors`);
      if (!existsSync(dirname(out)) || !statSync(dirname(out)).isDirectory()) {
        throw new UsageError(`checkpoint consolidate: the output's folder ${dirname(out)} does not exist`);
      }
      if (existsSync(join(dirname(out), MANIFEST))) {
        throw new UsageError(
          `checkpoint consolidate: the output ${out} is inside the checkpoint ${dirname(out)}, whose files it would replace or add to`,
          "write it outside the run's checkpoints",
        );
      }
      const done = consolidateCheckpoint(dir, out, (line) => process.stderr.write(`${line}\n`), single);
      const by = done.writtenBy.worldSize === 1 ? "one process" : `${done.writtenBy.worldSize} ranks`;
      process.stdout.write(
        `${out}: ${done.tensors} tensors, ${formatBytes(done.bytes)}, from ${done.dir} (step ${done.step}, written by ${by}, ${done.writtenBy.layout})\n`,
      );
    });
}
