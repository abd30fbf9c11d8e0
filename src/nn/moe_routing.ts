import { add, mul } from "../ops/binary.js";
import { embedding } from "../ops/embedding.js";
import { cast } from "../ops/cast.js";
import { concat, slice, transpose } from "../ops/layout.js";
import { matmul } from "../ops/matmul.js";
import { mean, sum } from "../ops/reduce.js";
import { softmax } from "../ops/softmax.js";
import { fromTypedArray, zeros } from "../tensor/create.js";
import type { Tensor } from "../tensor/tensor.js";

/** How tokens are routed to experts. */
export interface RoutingOptions {
  /** Experts each token goes to (the k highest router probabilities). */
  topK: number;
  /** Each expert takes at most ceil(capacityFactor · tokens · topK / experts) tokens. */
  capacityFactor: number;
  /** true: assignments past an expert's capacity are dropped; false: no capacity limit. */
  drop: boolean;
}

/** Where each token's choices went, decided on the host from the router probabilities. */
export interface RoutingPlan {
  /** Rows (token slots) of every expert. */
  capacity: number;
  /** [experts · capacity]: the token in slot c of expert e (index e·capacity + c), or `tokens` when the slot is empty. */
  slotToken: Int32Array;
  /** [topK · tokens]: the slot of token t's k-th choice (index k·tokens + t), or experts · capacity when it was dropped. */
  choiceSlot: Int32Array;
  /** [topK · tokens · experts]: 1 at (k, t, e) when token t's k-th choice e was kept. */
  kept: Float32Array;
  /** Per expert, the tokens whose top-k chose it (dropped or not). */
  picked: number[];
}

/** Slots per expert: the capacity a Switch/GShard layer gives, or every token without dropping. */
export function expertCapacity(tokens: number, experts: number, options: RoutingOptions): number {
  return options.drop ? Math.ceil((options.capacityFactor * tokens * options.topK) / experts) : tokens;
}

/**
 * Routes `tokens` tokens given their router probabilities ([tokens, experts], row-major): each
 * token's top-k experts in descending probability (ties to the lower index); the slots fill with
 * every token's first choice in token order, then the second choices, ... (GShard's priority), and
 * an assignment finding its expert full is dropped.
 * @example planRouting(Float32Array.from([0.9, 0.1, 0.2, 0.8]), 2, 2, { topK: 1, capacityFactor: 1, drop: true })
 */
export function planRouting(probs: Float32Array, tokens: number, experts: number, options: RoutingOptions): RoutingPlan {
  const capacity = expertCapacity(tokens, experts, options),
    slots = experts * capacity;
  const slotToken = new Int32Array(slots).fill(tokens),
    choiceSlot = new Int32Array(options.topK * tokens).fill(slots),
    kept = new Float32Array(options.topK * tokens * experts);
  const choices: number[][] = [];
  for (let t = 0; t < tokens; t++) {
    const row = probs.subarray(t * experts, (t + 1) * experts);
    const order = Array.from({ length: experts }, (_, e) => e).sort((a, b) => row[b]! - row[a]! || a - b);
    choices.push(order.slice(0, options.topK));
  }
  const filled = new Array<number>(experts).fill(0),
    picked = new Array<number>(experts).fill(0);
  for (let k = 0; k < options.topK; k++) {
    for (let t = 0; t < tokens; t++) {
      const e = choices[t]![k]!;
      picked[e]!++;
      if (filled[e]! === capacity) continue;
      const slot = e * capacity + filled[e]!++;
      slotToken[slot] = t;
      choiceSlot[k * tokens + t] = slot;
      kept[(k * tokens + t) * experts + e] = 1;
    }
  }
  return { capacity, slotToken, choiceSlot, kept, picked };
}

/**
 * Runs the experts on their dispatched rows: input [experts · capacity, width], expert e's rows
 * at [e·capacity, (e+1)·capacity); returns the outputs in the same layout. Expert parallelism
 * swaps in one that exchanges the rows with the ranks that hold the experts.
 */
export type ExpertRunner = (dispatched: Tensor, capacity: number) => Tensor;

/**
 * An ExpertRunner over experts held here: expert e's function on its rows.
 * @example localExperts(experts.map((m) => (h: Tensor) => m.forward(h)))
 */
export function localExperts(experts: readonly ((rows: Tensor) => Tensor)[]): ExpertRunner {
  return (dispatched, capacity) => concat(experts.map((expert, e) => expert(slice(dispatched, 0, e * capacity, (e + 1) * capacity))));
}

/**
 * A mixture-of-experts layer on tokens x [tokens, width] (Switch Transformer / GShard): router
 * probabilities softmax(x · routerWeightᵀ), tokens routed by `planRouting`, each kept
 * assignment's expert output scaled by its router probability and summed per token (a token
 * dropped everywhere gets zeros: the residual carries it). Dispatch and combine gather rows by
 * index, so gradients reach x, the router and the experts.
 * `auxLoss` is Switch's load-balancing loss experts · Σₑ fₑ·Pₑ (fₑ: share of the top-k choices
 * that picked e; Pₑ: mean router probability of e), 1 when balanced.
 * @example const { output, auxLoss } = mixtureOfExperts(x, router.weight, localExperts(fns), { topK: 2, capacityFactor: 1.25, drop: true });
 */
export function mixtureOfExperts(x: Tensor, routerWeight: Tensor, runExperts: ExpertRunner, options: RoutingOptions): { output: Tensor; auxLoss: Tensor } {
  const [tokens, experts] = [x.shape[0]!, routerWeight.shape[0]!];
  if (!Number.isInteger(options.topK) || options.topK < 1 || options.topK > experts) {
    throw new RangeError(`moe: topK must be an integer in [1, ${experts}] (the experts), got ${options.topK}`);
  }
  const probs = softmax(cast(matmul(x, transpose(routerWeight, 0, 1)), "float32"), -1);
  const plan = planRouting(probs.toHost() as Float32Array, tokens, experts, options);
  const slots = experts * plan.capacity,
    zeroRow = zeros([1, x.shape[1]!], { dtype: x.dtype });
  // Gathers by row index (the embedding op; its backward adds the rows' gradients back), with a
  // zero row past the end for empty slots and dropped choices.
  const expertIn = embedding(fromTypedArray(plan.slotToken, [slots]), concat([x, zeroRow]));
  const expertOut = concat([runExperts(expertIn, plan.capacity), zeroRow]);
  let output: Tensor | null = null;
  for (let k = 0; k < options.topK; k++) {
    const rows = embedding(fromTypedArray(plan.choiceSlot.subarray(k * tokens, (k + 1) * tokens), [tokens]), expertOut);
    const gate = sum(mul(probs, fromTypedArray(plan.kept.subarray(k * tokens * experts, (k + 1) * tokens * experts), [tokens, experts])), -1, true);
    const term = mul(rows, cast(gate, x.dtype));
    output = output ? add(output, term) : term;
  }
  const share = fromTypedArray(
    Float32Array.from(plan.picked, (n) => n / (tokens * options.topK)),
    [experts],
  );
  const auxLoss = mul(sum(mul(mean(probs, 0), share)), experts);
  return { output: output!, auxLoss };
}
