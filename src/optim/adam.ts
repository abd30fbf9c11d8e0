import { zeros } from "../tensor/create.js";
import { bf16CopyOf, copyWritten } from "../tensor/low_copy.js";
import { adamStepInPlace } from "../ops/optimizer_kernels.js";
import type { Tensor } from "../tensor/tensor.js";
import { checkRange, Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

export interface AdamOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

export type AdamHyper = { lr: number; betas: readonly number[]; eps: number; weightDecay: number };

const hyper = new Float64Array(7);

/**
 * Adam (Kingma & Ba) with PyTorch's defaults; weight decay is an L2 term added to the
 * gradient. The update of each parameter is one fused native pass.
 *
 * @example
 * const opt = new Adam(model.parameters(), { lr: 1e-3 });
 */
export class Adam extends Optimizer<AdamHyper> {
  /** @param decoupled AdamW's weight decay (use the AdamW class) */
  constructor(
    params: ParamsInput<AdamHyper>,
    options: Partial<AdamOptions> = {},
    name = "Adam",
    private readonly decoupled = false,
  ) {
    super(name, params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: decoupled ? 1e-2 : 0, ...options });
  }

  protected validate(g: AdamHyper): void {
    checkRange(this.name, "lr", g.lr, 0);
    if (!Array.isArray(g.betas) || g.betas.length !== 2) throw new RangeError(`${this.name}: betas must be a pair, got ${JSON.stringify(g.betas)}`);
    checkRange(this.name, "betas[0]", g.betas[0], 0, 1);
    checkRange(this.name, "betas[1]", g.betas[1], 0, 1);
    checkRange(this.name, "eps", g.eps, 0);
    checkRange(this.name, "weightDecay", g.weightDecay, 0);
  }

  protected initState(p: Tensor): Record<string, Tensor> {
    return { expAvg: zeros(p.shape), expAvgSq: zeros(p.shape) };
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<AdamHyper>): void {
    hyper[0] = g.lr;
    hyper[1] = g.betas[0]!;
    hyper[2] = g.betas[1]!;
    hyper[3] = g.eps;
    hyper[4] = g.weightDecay;
    hyper[5] = state.step;
    hyper[6] = this.decoupled ? 1 : 0;
    // Autocast's bf16 copy of p, if it has one, is written in the same pass (src/tensor/low_copy.ts).
    const low = bf16CopyOf(p);
    adamStepInPlace(p, grad, state.tensors.expAvg!, state.tensors.expAvgSq!, low, hyper);
    if (low) copyWritten(p);
  }
}
