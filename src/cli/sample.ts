import type { Command } from "commander";

import { CharTokenizer } from "../data/tokenizer.js";
import { generate } from "../models/generate.js";
import { GPT } from "../models/gpt.js";
import { loadLatestCheckpoint } from "../train/checkpoint.js";
import type { Config } from "../train/config.js";
import { ConfigError, parseConfig } from "../train/config_file.js";

/** Rebuilds a trained GPT and its tokenizer from a checkpoint written by `turbine train`. */
export function loadGPTCheckpoint(path: string, warn: (line: string) => void): { model: GPT; tokenizer: CharTokenizer; step: number } {
  const checkpoint = loadLatestCheckpoint(path, warn);
  const config: Config = parseConfig(checkpoint.meta.config, `${checkpoint.dir}/meta.json`);
  if (config.model.kind !== "gpt" || !("tokenizer" in checkpoint.meta)) {
    throw new ConfigError(`checkpoint ${checkpoint.dir} holds a ${config.model.kind} model; sampling needs a gpt checkpoint`);
  }
  const tokenizer = CharTokenizer.fromJSON((checkpoint.meta as { tokenizer: unknown }).tokenizer);
  const m = config.model;
  const model = new GPT({ vocabSize: tokenizer.vocabSize, context: m.context, layers: m.layers, heads: m.heads, width: m.width, tiedHead: m.tiedHead, dropout: 0 });
  model.loadStateDict(checkpoint.model);
  for (const t of Object.values(checkpoint.model)) t.dispose();
  return { model, tokenizer, step: checkpoint.meta.step };
}

/** `turbine sample`: text from a trained GPT checkpoint. */
export function registerSample(program: Command): void {
  program
    .command("sample")
    .description("generate text from a trained gpt checkpoint")
    .requiredOption("--checkpoint <dir>", "a run folder (e.g. runs/gpt-char/version_0) or its checkpoints/ folder (the newest valid checkpoint), or one checkpoint")
    .option("--prompt <text>", "text to continue", "\n")
    .option("--tokens <n>", "characters to generate", (v) => Number(v), 500)
    .option("--temperature <t>", "softmax temperature", (v) => Number(v), 0.8)
    .option("--top-k <k>", "sample among the k most likely characters", (v) => Number(v))
    .option("--seed <n>", "seed of the sampling", (v) => Number(v), 0)
    .action((opts: { checkpoint: string; prompt: string; tokens: number; temperature: number; topK?: number; seed: number }) => {
      const { model, tokenizer } = loadGPTCheckpoint(opts.checkpoint, (line) => process.stderr.write(`${line}\n`));
      const ids = generate(model, tokenizer.encode(opts.prompt), {
        tokens: opts.tokens,
        temperature: opts.temperature,
        ...(opts.topK !== undefined ? { topK: opts.topK } : {}),
        seed: opts.seed,
      });
      process.stdout.write(`${tokenizer.decode(ids)}\n`);
    });
}
