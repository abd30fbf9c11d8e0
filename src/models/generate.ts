import { noGrad } from "../autograd/grad_mode.js";
import { tensor } from "../tensor/create.js";
import { Rng } from "../data/random.js";
import { tidy } from "../tensor/scope.js";
import type { GPT } from "./gpt.js";

export interface GenerateOptions {
  /** New tokens to produce. */
  tokens: number;
  /** Softmax temperature; lower is more conservative, 0 is greedy: always the most likely token (default 1). */
  temperature?: number;
  /** Sample only among the k most likely tokens (default, or 0: all, as in Hugging Face). */
  topK?: number;
  seed?: number;
}

/**
 * Autoregressive sampling: feeds the last `context` tokens, draws the next token from the
 * softmax of the last position's logits (temperature, top-k), appends it, and repeats. At
 * temperature 0 the next token is the most likely one (greedy decoding; the lowest id on a tie).
 * @example const ids = generate(model, tokenizer.encode("In the beginning"), { tokens: 200, topK: 10 });
 */
export function generate(model: GPT, prompt: Int32Array, options: GenerateOptions): Int32Array {
  const { tokens, temperature = 1, topK, seed = 0 } = options;
  if (prompt.length === 0) throw new RangeError("generate: the prompt is empty; give at least one token");
  if (!Number.isInteger(tokens) || tokens < 0) throw new RangeError(`generate: tokens must be a non-negative integer, got ${tokens}`);
  if (!(temperature >= 0 && Number.isFinite(temperature)))
    throw new RangeError(`generate: temperature must be a finite number ≥ 0 (0: greedy), got ${temperature}`);
  const vocab = model.config.vocabSize;
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0 && topK <= vocab)) {
    throw new RangeError(`generate: topK must be an integer in [0, ${vocab}] (0: no top-k filter), got ${topK}`);
  }
  const rng = Rng.seeded(seed);
  const out = Array.from(prompt);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let n = 0; n < tokens; n++) {
      const window = out.slice(-model.config.context);
      const logits = noGrad(() =>
        tidy(() => {
          const x = tensor(window, { dtype: "int32", shape: [1, window.length] });
          const all = model.forward(x).toArray();
          return all.slice((window.length - 1) * vocab);
        }),
      );
      const u = rng.nextUint32() / 2 ** 32;
      out.push(temperature === 0 ? argmax(logits) : sample(logits, temperature, topK || undefined, u));
    }
  } finally {
    model.train(wasTraining);
  }
  return Int32Array.from(out);
}

/** The index of the largest logit, the first on a tie. */
function argmax(logits: number[]): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** Draws an index from softmax(logits / temperature), restricted to the top k, with u in [0, 1). */
function sample(logits: number[], temperature: number, topK: number | undefined, u: number): number {
  const order = logits.map((_, i) => i).sort((a, b) => logits[b]! - logits[a]!);
  const kept = order.slice(0, topK ?? logits.length);
  const top = logits[kept[0]!]!;
  const weights = kept.map((i) => Math.exp((logits[i]! - top) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let j = 0; j < kept.length; j++) {
    acc += weights[j]! / total;
    if (u < acc) return kept[j]!;
  }
  return kept[kept.length - 1]!;
}
