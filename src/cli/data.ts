import { resolve } from "node:path";

import type { Command } from "commander";

import { PrepareInterrupted, prepareTokenFile } from "../data/prepare.js";
import { stopSignalReceived, watchStopSignals } from "../train/stop_signals.js";
import { UsageError } from "./errors.js";

/**
 * `turbine data prepare <text> <out>`: tokenizes a UTF-8 text file of any size into a token
 * file that `data.kind: "tokens"` trains on, reading windows from disk. Ctrl-C or SIGTERM ends it
 * after the chunk in hand with nothing written (exit 130 or 143).
 *
 * @example turbine data prepare corpus.txt corpus.tokens
 */
export function registerData(program: Command): void {
  const data = program.command("data").description("prepare training data");
  data
    .command("prepare")
    .description('tokenize a UTF-8 text file (character tokenizer) into a token file for data.kind "tokens"')
    .argument("<text>", "the UTF-8 text file")
    .argument("<out>", "the token file to write (replaced whole, never half-written)")
    .action((text: string, out: string) => {
      for (const [name, path] of [["<text>", text] as const, ["<out>", out] as const])
        if (path.trim() === "")
          throw new UsageError(`data prepare: ${name} is an empty path`, "give a file name, e.g. turbine data prepare corpus.txt corpus.tokens");
      if (resolve(text) === resolve(out))
        throw new UsageError(
          `data prepare: <out> ${out} is the text file itself, which the token file would replace`,
          "give another file name, e.g. corpus.tokens",
        );
      // Ctrl-C or SIGTERM: the chunk in hand finishes, the temporary output is removed, and the command ends.
      const unwatch = watchStopSignals();
      try {
        const r = prepareTokenFile(text, out, { stopRequested: () => stopSignalReceived()?.name ?? null });
        process.stdout.write(`${out}: ${r.tokens} tokens, vocabulary of ${r.vocabSize} characters, ${r.dtype}\n`);
      } catch (error) {
        if (!(error instanceof PrepareInterrupted)) throw error;
        process.exitCode = stopSignalReceived()?.exitCode ?? 130;
        process.stderr.write(`interrupted by ${error.reason}; ${out} was not written\n`);
      } finally {
        unwatch();
      }
    });
}
