import { lionStepInPlace } from "../ops/elementwise_optimizer_steps.js";
import { zeros } from "../tensor/create.js";
import type { Tensor } from "../tensor/tensor.js";
import { checkBetas, checkRange, Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

export interface LionOptions {
  lr: number;
  betas: readonly [number, number];
  weightDecay: number;
}

export type LionHyper = { lr: number; betas: readonly number[]; weightDecay: number };

const hyper = new Float64Array(4);

/**
 * Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms"): the sign of an
 * interpolation of momentum and gradient, so every element moves by exactly lr; one state
 * buffer (half of Adam's), decoupled weight decay. Use a learning rate 3–10× below AdamW's and
 * a weight decay as many times larger. Element-wise, so it runs unchanged on ZeRO's shards.
 *
 * @example
 * const opt = new Lion(model.parameters(), { lr: 1e-4, betas: [0.9, 0.99], weightDecay: 0.1 });
 */
export class Lion extends Optimizer<LionHyper> {
  constructor(params: ParamsInput<LionHyper>, options: Partial<LionOptions> = {}) {
    super("Lion", params, { lr: 1e-4, betas: [0.9, 0.99], weightDecay: 0, ...options });
  }

  protected validate(g: LionHyper): void {
    checkRange(this.name, "lr", g.lr, 0);
    checkBetas(this.name, g.betas);
    checkRange(this.name, "weightDecay", g.weightDecay, 0);
  }

  protected initState(p: Tensor): Record<string, Tensor> {
    return { expAvg: zeros(p.shape) };
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<LionHyper>): void {
    hyper[0] = g.lr;
    hyper[1] = g.betas[0]!;
    hyper[2] = g.betas[1]!;
    hyper[3] = g.weightDecay;
    // p.version has advanced, so autocast's bf16 copy of p is cast again when next used.
    lionStepInPlace(p, grad, state.tensors.expAvg!, hyper);
  }
}
