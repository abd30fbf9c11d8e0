import type { AdamHyper } from "../../optim/adam.js";
import type { ParamsInput } from "../../optim/optimizer.js";
import { FrozenVarianceAdam, type FrozenVarianceAdamOptions } from "./frozen_variance_adam.js";
import { OneBitAllReduce } from "./onebit_allreduce.js";

export type OneBitAdamOptions = Omit<FrozenVarianceAdamOptions, "compressor">;

/**
 * 1-bit Adam (Tang et al. 2021, DeepSpeed's OnebitAdam): the frozen-variance Adam whose momentum
 * is averaged through DeepSpeed's compressed all-reduce (signs and one scale per parameter
 * tensor, error feedback on worker and server side, `OneBitAllReduce`): about 32× fewer bytes
 * after the warm-up.
 *
 * @example
 * const optimizer = new OneBitAdam(model.parameters(), { lr: 1e-3, freezeStep: 100 });
 * const strategy = new FrozenVarianceDataParallel(model, group);   // attaches the group at the first step
 */
export class OneBitAdam extends FrozenVarianceAdam {
  constructor(params: ParamsInput<AdamHyper>, options: Partial<OneBitAdamOptions> = {}) {
    super(params, { ...options, compressor: new OneBitAllReduce(), averages: "shared" }, "OneBitAdam");
  }
}
