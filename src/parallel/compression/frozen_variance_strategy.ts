import type { Module } from "../../nn/module.js";
import type { GradScaler } from "../../optim/grad_scaler.js";
import type { Optimizer } from "../../optim/optimizer.js";
import type { Tensor } from "../../tensor/tensor.js";
import { anyRank } from "../any_rank.js";
import { DistributedDataParallel, type DDPOptions } from "../ddp.js";
import type { ProcessGroup } from "../process_group.js";
import { FrozenVarianceAdam } from "./frozen_variance_adam.js";

/**
 * Data parallel for a frozen-variance Adam (1-bit Adam, or the momentum compressed by another
 * compressor): DDP (full-precision gradient all-reduce) during the optimizer's
 * warm-up; once it is `compressing`, backward keeps each rank's gradients local and the
 * optimizer averages the compressed momentum instead. With loss scaling the ranks agree on
 * inf/NaN before every step (their gradients differ), so all skip the same steps and an
 * overflow never reaches the momentum or the compression errors: the scale does not halve
 * forever (DeepSpeed issue 753). `commBytes` counts both phases.
 *
 * @example
 * const strategy = new FrozenVarianceDataParallel(model, group);
 * strategy.backward(loss);
 * strategy.step(new OneBitAdam(model.parameters(), { freezeStep: 100 }));
 */
export class FrozenVarianceDataParallel extends DistributedDataParallel {
  private optimizer: FrozenVarianceAdam | null = null;

  constructor(module: Module, group: ProcessGroup, options: Omit<DDPOptions, "hook"> = {}) {
    super(module, group, options);
  }

  override backward(loss: Tensor, options: { sync?: boolean } = {}): void {
    super.backward(loss, { sync: (options.sync ?? true) && !this.optimizer?.compressing });
  }

  override unscale(gradScaler: GradScaler, optimizer: Optimizer<any>): void {
    gradScaler.unscale(optimizer, (foundInf) => anyRank(this.group, foundInf));
  }

  override step(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void {
    if (!(optimizer instanceof FrozenVarianceAdam))
      throw new TypeError(`FrozenVarianceDataParallel: the optimizer must be a FrozenVarianceAdam (OneBitAdam among them), got ${optimizer.name}`);
    if (this.optimizer !== optimizer) {
      optimizer.attach(this.group);
      this.optimizer = optimizer;
    }
    super.step(optimizer, gradScaler);
  }

  override get commBytes(): number {
    return super.commBytes + (this.optimizer?.commBytes ?? 0);
  }
}
