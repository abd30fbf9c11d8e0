import { mul } from "../ops/binary.js";
import { cast } from "../ops/cast.js";
import { concat, slice, transpose } from "../ops/layout.js";
import { matmul } from "../ops/matmul.js";
import { mean, sum } from "../ops/reduce.js";
import { softmax } from "../ops/softmax.js";
import { reshape } from "../ops/view.js";
import { fromTypedArray } from "../tensor/create.js";
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
  /** [tokens, experts · capacity]: 1 where a token occupies slot c of expert e (column e·capacity + c). */
  dispatch: Float32Array;
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
  const capacity = expertCapacity(tokens, experts, options);
  const dispatch = new Float32Array(tokens * experts * capacity);
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
      if (filled[e]! < capacity) dispatch[t * experts * capacity + e * capacity + filled[e]!++] = 1;
    }
  }
  return { capacity, dispatch, picked };
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
 * dropped everywhere gets zeros: the residual carries it). Dispatch and combine are matrix
 * products with the routing's one-hot matrix, so gradients reach x, the router and the experts.
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
  const slots = experts * plan.capacity;
  const dispatch = fromTypedArray(plan.dispatch, [tokens, slots]);
  const combine = reshape(mul(reshape(dispatch, [tokens, experts, plan.capacity]), reshape(probs, [tokens, experts, 1])), [tokens, slots]);
  const expertOut = runExperts(matmul(transpose(cast(dispatch, x.dtype), 0, 1), x), plan.capacity);
  const output = matmul(cast(combine, x.dtype), expertOut);
  const share = fromTypedArray(
    Float32Array.from(plan.picked, (n) => n / (tokens * options.topK)),
    [experts],
  );
  const auxLoss = mul(sum(mul(mean(probs, 0), share)), experts);
  return { output, auxLoss };
}
