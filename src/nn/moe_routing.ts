import { add, mul } from "../ops/binary.js";
import { embedding } from "../ops/embedding.js";
import { cast } from "../ops/cast.js";
import { transpose } from "../ops/layout.js";
import { matmul } from "../ops/matmul.js";
import { mean, sum } from "../ops/reduce.js";
import { softmax } from "../ops/softmax.js";
import { reshape } from "../ops/view.js";
import { fromTypedArray, zeros } from "../tensor/create.js";
import type { Tensor } from "../tensor/tensor.js";
import { combineSlots, dispatchSlots } from "./moe_slots.js";

/** How tokens are routed to experts. */
export interface RoutingOptions {
  /** Experts each token goes to (the k highest router probabilities). */
  topK: number;
  /** Each expert takes at most ceil(capacityFactor · tokens · topK / experts) tokens. */
  capacityFactor: number;
  /** true: assignments past an expert's capacity are dropped; false: no capacity limit. */
  drop: boolean;
}

/**
 * Where each token's choices went, decided on the host from the router probabilities. The
 * slots hold only kept assignments, expert by expert (no padding to the capacity): expert e's
 * rows are slots [offset e, offset e + rows[e]), offset e = rows[0] + … + rows[e − 1].
 */
export interface RoutingPlan {
  /** The most rows an expert takes. */
  capacity: number;
  /** Per expert, the assignments it kept (≤ capacity). */
  rows: number[];
  /** [slots]: the token in each slot. */
  slotToken: Int32Array;
  /** [slots]: where the slot's gate lies in the probabilities, token · experts + expert. */
  slotProb: Int32Array;
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
    k = options.topK;
  // choice[j · tokens + t]: token t's j-th expert, chosen by repeated arg-max (k is small).
  const choice = new Int32Array(k * tokens);
  for (let t = 0; t < tokens; t++) {
    const row = t * experts;
    for (let j = 0; j < k; j++) {
      let best = -1;
      for (let e = 0; e < experts; e++) {
        let taken = false;
        for (let i = 0; i < j; i++) if (choice[i * tokens + t] === e) taken = true;
        if (!taken && (best < 0 || probs[row + e]! > probs[row + best]!)) best = e;
      }
      choice[j * tokens + t] = best;
    }
  }
  // In priority order each assignment takes its expert's next row, or is dropped (-1).
  const filled = new Array<number>(experts).fill(0),
    picked = new Array<number>(experts).fill(0),
    position = new Int32Array(k * tokens);
  for (let a = 0; a < k * tokens; a++) {
    const e = choice[a]!;
    picked[e]!++;
    position[a] = filled[e]! < capacity ? filled[e]!++ : -1;
  }
  const offset = new Array<number>(experts).fill(0);
  for (let e = 1; e < experts; e++) offset[e] = offset[e - 1]! + filled[e - 1]!;
  const slots = offset[experts - 1]! + filled[experts - 1]!;
  const slotToken = new Int32Array(slots),
    slotProb = new Int32Array(slots);
  for (let a = 0; a < k * tokens; a++) {
    if (position[a]! < 0) continue;
    const t = a % tokens,
      e = choice[a]!,
      slot = offset[e]! + position[a]!;
    slotToken[slot] = t;
    slotProb[slot] = t * experts + e;
  }
  return { capacity, rows: filled, slotToken, slotProb, picked };
}

/**
 * Runs the experts on their dispatched rows: one block per expert that has rows (`rows[e]` > 0),
 * in expert order (`capacity`: the most any expert takes); returns each block's outputs in the
 * same blocks. Expert parallelism swaps in one that exchanges the rows with the ranks that hold
 * the experts.
 */
export type ExpertRunner = (blocks: readonly Tensor[], rows: readonly number[], capacity: number) => Tensor[];

/**
 * An ExpertRunner over experts held here: expert e's function on its block. An expert no token
 * reached runs on one zero row whose output counts zero times, so it still gets a (zero)
 * gradient as every parameter does each step: the optimizer and data parallelism treat it as
 * they treat the others.
 * @example localExperts(experts.map((m) => (h: Tensor) => m.forward(h)))
 */
export function localExperts(experts: readonly ((rows: Tensor) => Tensor)[]): ExpertRunner {
  return (blocks, rows) => {
    const busy = rows.flatMap((n, e) => (n > 0 ? [e] : [])),
      idle = rows.flatMap((n, e) => (n > 0 ? [] : [e]));
    const outputs = blocks.map((block, i) => experts[busy[i]!]!(block));
    if (idle.length === 0) return outputs;
    const zeroRow = zeros([1, blocks[0]!.shape[1]!], { dtype: blocks[0]!.dtype });
    const unused = idle.map((e) => sum(experts[e]!(zeroRow))).reduce((a, b) => add(a, b));
    return [add(outputs[0]!, cast(mul(unused, 0), outputs[0]!.dtype)), ...outputs.slice(1)];
  };
}

/**
 * A mixture-of-experts layer on tokens x [tokens, width] (Switch Transformer / GShard): router
 * probabilities softmax(x · routerWeightᵀ), tokens routed by `planRouting`, each kept
 * assignment's expert output scaled by its router probability and summed per token (a token
 * dropped everywhere gets zeros: the residual carries it). Dispatch gathers the kept
 * assignments' rows (no padding: the experts compute only kept rows), combine adds each scaled
 * output row into its token's; both by index, so gradients reach x, the router and the experts.
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
  const slots = plan.slotToken.length;
  const sizes = plan.rows.filter((n) => n > 0);
  const expertOut = runExperts(dispatchSlots(x, plan.slotToken, sizes), plan.rows, plan.capacity);
  // Each slot's router probability, gathered by index (so its gradient reaches the router).
  const gates = embedding(fromTypedArray(plan.slotProb, [slots]), reshape(probs, [tokens * experts, 1]));
  const output = combineSlots(expertOut, gates, plan.slotToken, tokens);
  const share = fromTypedArray(
    Float32Array.from(plan.picked, (n) => n / (tokens * options.topK)),
    [experts],
  );
  const auxLoss = mul(sum(mul(mean(probs, 0), share)), experts);
  return { output, auxLoss };
}
