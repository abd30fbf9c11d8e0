import { lambDirection, scaleAddInPlace } from "../ops/elementwise_optimizer_steps.js";
import { zeros } from "../tensor/create.js";
import { type AdamHyper, type AdamOptions, checkAdamHyper } from "./adam.js";
import { Tensor } from "../tensor/tensor.js";
import { Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

/** LAMB takes Adam's hyperparameters (its defaults: eps 1e-6, weightDecay 0.01). */
export type LambOptions = AdamOptions;

const hyper = new Float64Array(5);

/**
 * LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"):
 * Adam's bias-corrected direction plus weightDecay·w, scaled per tensor by the trust ratio
 * ‖w‖ / ‖direction‖ (1 when either is 0), so every layer moves by about lr of its own norm,
 * which keeps large-batch training stable. The ratio needs each parameter whole, so LAMB
 * refuses ZeRO's shards (needsWholeParameters).
 *
 * @example
 * const opt = new Lamb(model.parameters(), { lr: 2e-3, weightDecay: 0.01 });
 */
export class Lamb extends Optimizer<AdamHyper> {
  override readonly needsWholeParameters = true;

  constructor(params: ParamsInput<AdamHyper>, options: Partial<LambOptions> = {}) {
    super("LAMB", params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-6, weightDecay: 0.01, ...options });
  }

  protected validate(g: AdamHyper): void {
    checkAdamHyper(this.name, g);
  }

  protected initState(p: Tensor): Record<string, Tensor> {
    return { expAvg: zeros(p.shape), expAvgSq: zeros(p.shape) };
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<AdamHyper>): void {
    hyper[0] = g.betas[0]!;
    hyper[1] = g.betas[1]!;
    hyper[2] = g.eps;
    hyper[3] = g.weightDecay;
    hyper[4] = state.step;
    const direction = Tensor.empty(p.shape, "float32");
    try {
      const { weightNorm, updateNorm } = lambDirection(p, grad, state.tensors.expAvg!, state.tensors.expAvgSq!, direction, hyper);
      const trust = weightNorm > 0 && updateNorm > 0 ? weightNorm / updateNorm : 1;
      scaleAddInPlace(p, 1, direction, -g.lr * trust);
    } finally {
      direction.dispose();
    }
  }
}
