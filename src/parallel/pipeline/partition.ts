import { performance } from "node:perf_hooks";

import { noGrad } from "../../autograd/grad_mode.js";
import { Sequential } from "../../nn/containers.js";
import type { Module } from "../../nn/module.js";
import { hasOwnLoss } from "../../nn/own_loss.js";
import { materializeInPlace } from "../../tensor/materialize.js";
import { defaultGenerator } from "../../tensor/random.js";
import { tidy } from "../../tensor/scope.js";
import type { Tensor } from "../../tensor/tensor.js";

/**
 * The chain of layers a pipeline cuts: a Sequential's layers, or a model's own
 * `pipelineLayers()` (the GPT's embeddings, blocks and head). Throws naming the module otherwise.
 * @example layersOf(new Sequential(a, b, c))   // [a, b, c]
 */
export function layersOf(module: Module): Module[] {
  if (module instanceof Sequential) return [...module.layers];
  const own = (module as Partial<{ pipelineLayers(): Module[] }>).pipelineLayers;
  if (typeof own === "function") return own.call(module);
  throw new TypeError(`pipeline: a ${module.constructor.name} cannot be cut into stages (a Sequential or a model with pipelineLayers(), such as the GPT, can)`);
}

/** What a pipeline's layers are, for messages that count them: not the gpt's blocks alone. */
export const PIPELINE_LAYERS = "pipeline layers (a gpt's are its embedding, each block and its head)";

/** A stage whose last layer computes the loss itself (a tensor-parallel head): the stage does too. */
class LossStage extends Sequential {
  loss(x: Tensor, targets: Tensor): Tensor {
    const last = this.layers.at(-1)!;
    if (!hasOwnLoss(last)) throw new Error("pipeline: the stage's last layer has no loss of its own");
    const h = new Sequential(...this.layers.slice(0, -1)).forward(x);
    const loss = last.loss(h, targets);
    if (h !== x) h.dispose();
    return loss;
  }
}

/**
 * The module of one stage (or chunk): its layers in order; where the last layer computes the
 * loss itself (`hasOwnLoss`), the stage does too, so the last stage's loss goes through it.
 * @example const stage = stageOf(layers.slice(0, 3));
 */
export function stageOf(layers: Module[]): Sequential {
  return hasOwnLoss(layers.at(-1)!) ? new LossStage(...layers) : new Sequential(...layers);
}

/**
 * Cuts `costs` (one per layer, in order) into `parts` consecutive runs whose largest total is
 * as small as it can be (the slowest stage sets a pipeline's pace); returns the layers of each part.
 * @example balancedCut([1, 1, 1, 3], 2)   // [3, 1]
 */
export function balancedCut(costs: readonly number[], parts: number): number[] {
  const n = costs.length;
  if (n < parts) throw new RangeError(`pipeline: ${n} ${PIPELINE_LAYERS} cannot be cut into ${parts} parts (one layer at least each)`);
  const prefix = [0];
  for (const c of costs) prefix.push(prefix.at(-1)! + c);
  // best[k][i]: the smallest largest part when the first i layers make k parts; from[k][i] where the last part starts.
  const best = Array.from({ length: parts + 1 }, () => new Array<number>(n + 1).fill(Infinity));
  const from = Array.from({ length: parts + 1 }, () => new Array<number>(n + 1).fill(0));
  best[0]![0] = 0;
  for (let k = 1; k <= parts; k++)
    for (let i = k; i <= n - (parts - k); i++)
      for (let j = k - 1; j < i; j++) {
        const value = Math.max(best[k - 1]![j]!, prefix[i]! - prefix[j]!);
        if (value < best[k]![i]!) {
          best[k]![i] = value;
          from[k]![i] = j;
        }
      }
  const sizes: number[] = [];
  for (let k = parts, i = n; k > 0; k--) {
    const j = from[k]![i]!;
    sizes.unshift(i - j);
    i = j;
  }
  return sizes;
}

/** Timed forward passes over the layers after an untimed one; a layer's cost is its fastest. */
const TIMED_PASSES = 5;

/**
 * Measures each layer's forward time (milliseconds, the fastest of five passes through the
 * layers after an untimed one) on a sample input `x`, without recording a graph and leaving
 * the random stream as it was: the costs a balanced cut uses. The fastest, because a run that
 * another thread preempted is only ever slower, and in passes, so that the runs of one layer lie
 * a whole pass apart rather than back to back inside one preemption. A single timed run cut a
 * 4-block gpt 3 to 1 on a loaded machine. A meta layer (deferInit) is materialised for each of
 * its runs and given back after it: the model is never whole here.
 * @example const costs = measureLayerCosts(layersOf(gpt), firstMicroBatch);
 */
export function measureLayerCosts(layers: readonly Module[], x: Tensor): number[] {
  // Dropout draws from the default stream: put it back, so measuring changes no later mask.
  const rng = defaultGenerator().getState();
  try {
    const costs = layers.map(() => Infinity);
    for (let pass = 0; pass <= TIMED_PASSES; pass++) {
      const times = forwardPass(layers, x);
      if (pass > 0) times.forEach((t, i) => (costs[i] = Math.min(costs[i]!, t)));
    }
    return costs;
  } finally {
    defaultGenerator().setState(rng);
  }
}

/** Milliseconds of each layer's forward in one pass from `x`. */
function forwardPass(layers: readonly Module[], x: Tensor): number[] {
  return noGrad(() =>
    tidy(() => {
      const times: number[] = [];
      let h = x;
      for (const layer of layers) {
        const meta = Object.values(layer.stateDict()).filter((t) => t.isMeta);
        for (const t of meta) materializeInPlace(t);
        const start = performance.now();
        const y = layer.forward(h);
        times.push(performance.now() - start);
        for (const t of meta) t.unrealize();
        if (h !== x) h.dispose();
        h = y;
      }
      if (h !== x) h.dispose();
      return times;
    }),
  );
}

/**
 * Checks a cut by hand (`parallel.stageLayers`): one positive entry per part, adding up to the
 * model's layers.
 */
export function checkCut(sizes: readonly number[], layers: number, parts: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (sizes.length !== parts || total !== layers || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new RangeError(
      `parallel.stageLayers ${JSON.stringify(sizes)} must give each of the ${parts} parts at least one layer and add up to the model's ${layers} ${PIPELINE_LAYERS}`,
    );
  }
  return [...sizes];
}
