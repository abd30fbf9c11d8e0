import { lionStepsInPlace } from "../ops/optimizer_kernels.js";
import { zeros } from "../tensor/create.js";
import type { Tensor } from "../tensor/tensor.js";
import { checkBetas, checkRange, type DueUpdate, Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

export interface LionOptions {
  lr: number;
  betas: readonly [number, number];
  weightDecay: number;
}

export type LionHyper = { lr: number; betas: readonly number[]; weightDecay: number };

/** The hyper rows of a multi-tensor step, grown to the largest step's parameter count. */
let hyperRows = new Float64Array(4);

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
    this.updateAll([{ p, grad, state, group: g }]);
  }

  /** Every due parameter in one multi-tensor kernel call. */
  protected override updateAll(due: readonly DueUpdate<LionHyper>[]): void {
    if (hyperRows.length < 4 * due.length) hyperRows = new Float64Array(4 * due.length);
    due.forEach(({ group }, i) => hyperRows.set([group.lr, group.betas[0]!, group.betas[1]!, group.weightDecay], 4 * i));
    // p.version has advanced, so autocast's bf16 copy of p is cast again when next used.
    lionStepsInPlace(
      due.map(({ p, grad, state }) => ({ p, grad, expAvg: state.tensors.expAvg! })),
      hyperRows,
    );
  }
}
