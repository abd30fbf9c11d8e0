import { existsSync } from "node:fs";

import type { Command } from "commander";

import { CharTokenizer } from "../data/tokenizer.js";
import { generate } from "../models/generate.js";
import { GPT } from "../models/gpt.js";
import { ConfigError } from "../train/config_file.js";
import { loadTrainedModel } from "../train/trained_model.js";
import { UsageError } from "./errors.js";
import { integerAtLeast, integerIn, numberAtLeast } from "./option_values.js";

/**
 * The most characters one `turbine sample` generates. Each costs a forward pass over the context
 * (milliseconds for the shipped configs) and the text is held whole until it is printed: a
 * million takes minutes to hours and a few megabytes; a count far beyond (1e15) could never finish.
 */
export const MAX_SAMPLE_TOKENS = 1_000_000;

/** Rebuilds a trained GPT and its tokenizer from a checkpoint written by `turbine train`. */
export function loadGPTCheckpoint(path: string, warn: (line: string) => void): { model: GPT; tokenizer: CharTokenizer; step: number } {
  const trained = loadTrainedModel(path, warn);
  if (!(trained.model instanceof GPT) || trained.meta.tokenizer === undefined) {
    throw new ConfigError(`checkpoint ${trained.dir} holds a ${trained.config.model.kind} model; sampling needs a gpt checkpoint`);
  }
  return { model: trained.model, tokenizer: CharTokenizer.fromJSON(trained.meta.tokenizer), step: trained.step };
}

/**
 * The token ids of a prompt, refusing what the model cannot continue: an empty prompt (a
 * character model has no start token to begin from) and characters outside its vocabulary.
 */
function encodePrompt(prompt: string, tokenizer: CharTokenizer): Int32Array {
  if (prompt === "")
    throw new UsageError(
      "sample: --prompt is empty; a character model needs at least one character to continue",
      'leave --prompt out to start from a newline, or give e.g. --prompt "And"',
    );
  const unknown = tokenizer.unknownCharacters(prompt);
  if (unknown.length > 0) {
    throw new UsageError(
      `sample: --prompt has ${unknown.length === 1 ? "a character" : "characters"} outside the model's vocabulary of ${tokenizer.vocabSize}: ${unknown.map((c) => JSON.stringify(c)).join(", ")}`,
      "the model knows only the characters of the text it was trained on",
    );
  }
  return tokenizer.encode(prompt);
}

/**
 * `turbine sample`: text from a trained GPT checkpoint. `--temperature 0` is greedy decoding and
 * `--top-k 0` no top-k filter, as in Hugging Face's generate.
 * @example turbine sample --checkpoint runs/gpt-char/version_0 --prompt "And God said" --temperature 0
 */
export function registerSample(program: Command): void {
  program
    .command("sample")
    .description("generate text from a trained gpt checkpoint")
    .requiredOption(
      "--checkpoint <dir>",
      "a run folder (e.g. runs/gpt-char/version_0) or its checkpoints/ folder (the newest valid checkpoint), or one checkpoint",
    )
    .option("--prompt <text>", "text to continue", "\n")
    .option("--tokens <n>", `characters to generate, 0 to ${MAX_SAMPLE_TOKENS.toLocaleString("en-US")}`, integerIn(0, MAX_SAMPLE_TOKENS), 500)
    .option("--temperature <t>", "softmax temperature (0: greedy, always the most likely character)", numberAtLeast(0), 0.8)
    .option("--top-k <k>", "sample among the k most likely characters (0: all)", integerAtLeast(0))
    .option("--seed <n>", "seed of the sampling", integerAtLeast(0), 0)
    .action((opts: { checkpoint: string; prompt: string; tokens: number; temperature: number; topK?: number; seed: number }) => {
      // A path that is not there is a mistyped argument (exit 2, as --resume, report and
      // consolidate say); a folder without a valid checkpoint is a failed run (exit 1).
      if (!existsSync(opts.checkpoint)) {
        throw new UsageError(
          `sample: --checkpoint ${opts.checkpoint} does not exist`,
          "give a run folder such as runs/gpt-char/version_0, its checkpoints/ folder, or one checkpoint",
        );
      }
      const { model, tokenizer } = loadGPTCheckpoint(opts.checkpoint, (line) => process.stderr.write(`${line}\n`));
      if (opts.topK !== undefined && opts.topK > tokenizer.vocabSize) {
        throw new UsageError(
          `sample: --top-k ${opts.topK} exceeds the model's vocabulary of ${tokenizer.vocabSize} characters`,
          `give 0 to ${tokenizer.vocabSize} (0: all)`,
        );
      }
      const ids = generate(model, encodePrompt(opts.prompt, tokenizer), {
        tokens: opts.tokens,
        temperature: opts.temperature,
        ...(opts.topK !== undefined ? { topK: opts.topK } : {}),
        seed: opts.seed,
      });
      process.stdout.write(`${tokenizer.decode(ids)}\n`);
    });
}
