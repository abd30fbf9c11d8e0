import { Adam, type AdamHyper, type AdamOptions } from "./adam.js";
import type { ParamsInput } from "./optimizer.js";

/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, the parameter shrinking by
 * lr·weightDecay before each update. PyTorch's defaults (weightDecay 0.01).
 *
 * @example
 * const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.1, betas: [0.9, 0.99] });
 */
export class AdamW extends Adam {
  constructor(params: ParamsInput<AdamHyper>, options: Partial<AdamOptions> = {}) {
    super(params, options, "AdamW", true);
  }
}
