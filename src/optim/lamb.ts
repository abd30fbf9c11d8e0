import { lambApplyTrust, lambMomentsAndNorms } from "../ops/elementwise_optimizer_steps.js";
import { lambStepsInPlace } from "../ops/optimizer_kernels.js";
import { formatShape } from "../tensor/shape.js";
import { zeros } from "../tensor/create.js";
import { type AdamHyper, type AdamOptions, checkAdamHyper } from "./adam.js";
import type { Tensor } from "../tensor/tensor.js";
import type { ParameterShards } from "./parameter_shards.js";
import { type DueUpdate, Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

/** LAMB takes Adam's hyperparameters (its defaults: eps 1e-6, weightDecay 0.01). */
export type LambOptions = AdamOptions;

/** The hyper rows of a multi-tensor step, grown to the largest step's parameter count. */
let hyperRows = new Float64Array(6);

/**
 * LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"):
 * Adam's bias-corrected direction plus weightDecay·w, scaled per tensor by the trust ratio
 * ‖w‖ / ‖direction‖ (1 when either is 0), so every layer moves by about lr of its own norm,
 * which keeps large-batch training stable. On ZeRO's slices (shardWith) the ratio still comes
 * from the whole parameters: each rank sums Σ w² and Σ u² over its slices, one all-reduce of
 * those 2 × parameters partial sums gives every rank the whole norms, then each moves its slices.
 *
 * @example
 * const opt = new Lamb(model.parameters(), { lr: 2e-3, weightDecay: 0.01 });
 */
export class Lamb extends Optimizer<AdamHyper> {
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
    this.updateAll([{ p, grad, state, group: g }]);
  }

  /** Every due parameter in one multi-tensor kernel call (p.version has advanced: autocast's bf16 copy is cast again). */
  protected override updateAll(due: readonly DueUpdate<AdamHyper>[]): void {
    if (this.shards) {
      this.updateSlices(due, this.shards);
      return;
    }
    if (hyperRows.length < 6 * due.length) hyperRows = new Float64Array(6 * due.length);
    due.forEach(({ group, state }, i) => hyperRows.set([group.lr, group.betas[0]!, group.betas[1]!, group.eps, group.weightDecay, state.step], 6 * i));
    lambStepsInPlace(
      due.map(({ p, grad, state }) => ({ p, grad, expAvg: state.tensors.expAvg!, expAvgSq: state.tensors.expAvgSq! })),
      hyperRows,
    );
  }

  /** The update of this rank's slices with each whole parameter's trust ratio (every rank calls it, each step). */
  private updateSlices(due: readonly DueUpdate<AdamHyper>[], shards: ParameterShards): void {
    const rows = due.map(({ group, state }) => ({
      lr: group.lr,
      beta1: group.betas[0]!,
      beta2: group.betas[1]!,
      eps: group.eps,
      weightDecay: group.weightDecay,
      step: state.step,
    }));
    const norms = new Float32Array(2 * shards.parameterCount);
    const indices = due.map(({ p, grad, state }, i) => {
      const slice = shards.sliceOf(p);
      if (!slice) throw new Error(`${this.name}: a parameter ${formatShape(p.shape)} is not one of the strategy's slices`);
      const [ww, uu] = lambMomentsAndNorms(p, grad, state.tensors.expAvg!, state.tensors.expAvgSq!, rows[i]!);
      norms[2 * slice.index]! += ww;
      norms[2 * slice.index + 1]! += uu;
      return slice.index;
    });
    shards.sumOverRanks(norms);
    due.forEach(({ p, state }, i) => {
      const ww = norms[2 * indices[i]!]!,
        uu = norms[2 * indices[i]! + 1]!;
      lambApplyTrust(p, state.tensors.expAvg!, state.tensors.expAvgSq!, rows[i]!, ww > 0 && uu > 0 ? Math.sqrt(ww) / Math.sqrt(uu) : 1);
    });
  }
}
