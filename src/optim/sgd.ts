import { zeros } from "../tensor/create.js";
import { sgdStepInPlace } from "../ops/optimizer_kernels.js";
import type { Tensor } from "../tensor/tensor.js";
import { checkRange, Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

type SGDHyper = { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean };

const hyper = new Float64Array(6);

/**
 * Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
 * as torch.optim.SGD; one fused native pass per parameter.
 *
 * @example
 * const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true });
 */
export class SGD extends Optimizer<SGDHyper> {
  constructor(params: ParamsInput<SGDHyper>, options: Partial<SGDOptions> & { lr: number }) {
    super("SGD", params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options });
  }

  protected validate(g: SGDHyper): void {
    checkRange(this.name, "lr", g.lr, 0);
    checkRange(this.name, "momentum", g.momentum, 0);
    checkRange(this.name, "dampening", g.dampening, 0, 1, true);
    checkRange(this.name, "weightDecay", g.weightDecay, 0);
    if (typeof g.nesterov !== "boolean") throw new TypeError(`SGD: nesterov must be a boolean, got ${JSON.stringify(g.nesterov)}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new RangeError(`SGD: nesterov needs momentum > 0 and dampening 0, got momentum ${g.momentum}, dampening ${g.dampening}`);
    }
  }

  protected initState(): Record<string, Tensor> {
    return {};
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<SGDHyper>): void {
    // The buffer appears on the first step with momentum (which may come after a group change)
    // and starts as that step's gradient, as PyTorch's does.
    let buffer = state.tensors.momentumBuffer;
    const first = g.momentum !== 0 && !buffer;
    if (first) {
      buffer = state.tensors.momentumBuffer = zeros(p.shape, { category: "optimizer" });
      buffer.kept = true;
    }
    hyper[0] = g.lr;
    hyper[1] = g.momentum;
    hyper[2] = g.dampening;
    hyper[3] = g.weightDecay;
    hyper[4] = g.nesterov ? 1 : 0;
    hyper[5] = first ? 1 : 0;
    sgdStepInPlace(p, grad, g.momentum !== 0 ? buffer! : null, hyper);
  }
}
