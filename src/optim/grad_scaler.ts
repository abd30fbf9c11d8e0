import { mul } from "../ops/binary.js";
import { unscaleAndCheck } from "../ops/optimizer_kernels.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Optimizer } from "./optimizer.js";

/**
 * Dynamic loss scaling for float16 training, PyTorch's GradScaler: the loss is multiplied by
 * the scale before backward so small gradients survive float16's narrow range; the gradients
 * are divided by it again (unscaled) before clipping and the step. A step whose gradients hold
 * an inf or NaN is skipped (and counted) and the scale backs off; after `growthInterval`
 * clean steps in a row it grows. bfloat16 has float32's range and needs no scaler.
 */

export interface GradScalerOptions {
  /** Starting scale (default 2¹⁶). */
  initScale?: number;
  /** Factor on the scale after growthInterval steps without inf/NaN (default 2; > 1). */
  growthFactor?: number;
  /** Factor on the scale after a step with inf/NaN (default 0.5; in (0, 1)). */
  backoffFactor?: number;
  /** Clean steps in a row before the scale grows (default 2000). */
  growthInterval?: number;
  /** false makes every method a pass-through (default true). */
  enabled?: boolean;
}

export interface GradScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  growthTracker: number;
  skippedSteps: number;
}

/**
 * Loss scaling around an optimizer, step by step as in PyTorch:
 *
 * @example
 * const scaler = new GradScaler({ initScale: 2 ** 16 });
 * const loss = autocast({ dtype: "float16" }, () => crossEntropy(model.forward(x), y));
 * scaler.scale(loss).backward();
 * scaler.unscale(optimizer);              // before clipping
 * clipGradNorm(model.parameters(), 1.0);
 * scaler.step(optimizer);                 // skipped when a gradient is inf or NaN
 * scaler.update();
 */
export class GradScaler {
  readonly enabled: boolean;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  /** Steps skipped so far for inf/NaN gradients. */
  skippedSteps = 0;
  private currentScale: number;
  private growthTracker = 0;
  /** Whether the current step's gradients were unscaled, and what that found. */
  private unscaled: { foundInf: boolean } | null = null;
  private stepped = false;

  constructor(options: GradScalerOptions = {}) {
    const { initScale = 2 ** 16, growthFactor = 2, backoffFactor = 0.5, growthInterval = 2000, enabled = true } = options;
    if (!(initScale > 0) || !Number.isFinite(initScale)) throw new RangeError(`GradScaler: initScale must be a positive finite number, got ${initScale}`);
    if (!(growthFactor > 1)) throw new RangeError(`GradScaler: growthFactor must be > 1, got ${growthFactor}`);
    if (!(backoffFactor > 0 && backoffFactor < 1)) throw new RangeError(`GradScaler: backoffFactor must be in (0, 1), got ${backoffFactor}`);
    if (!Number.isInteger(growthInterval) || growthInterval < 1)
      throw new RangeError(`GradScaler: growthInterval must be a positive integer, got ${growthInterval}`);
    this.enabled = enabled;
    this.growthFactor = growthFactor;
    this.backoffFactor = backoffFactor;
    this.growthInterval = growthInterval;
    this.currentScale = Math.fround(initScale);
  }

  /** The current scale (1 when disabled). @example scaler.getScale() // 65536 */
  getScale(): number {
    return this.enabled ? this.currentScale : 1;
  }

  /** loss × scale, to call backward on. @example scaler.scale(loss).backward() */
  scale(loss: Tensor): Tensor {
    return this.enabled ? mul(loss, this.currentScale) : loss;
  }

  /**
   * Divides the optimizer's gradients by the scale in place, once per step, and returns whether
   * any held an inf or NaN. Call it before clipping; step() calls it when it was not. Where each
   * rank holds a different shard of the gradients (ZeRO), `agree` turns this rank's finding
   * into every rank's (an all-reduce), so that all skip the same steps.
   * @example if (!scaler.unscale(opt)) clipGradNorm(params, 1.0);
   */
  unscale(optimizer: Optimizer<any>, agree?: (foundInf: boolean) => boolean): boolean {
    if (!this.enabled) return false;
    if (this.unscaled) throw new Error("GradScaler.unscale: already called since the last update()");
    if (this.stepped) throw new Error("GradScaler.unscale: called after step(); call update() first");
    // PyTorch's inverse: the reciprocal in double, rounded to float32.
    const inverse = Math.fround(1 / this.currentScale);
    let foundInf = false;
    for (const group of optimizer.paramGroups) {
      for (const p of group.params as Tensor[]) {
        if (p.grad) foundInf = unscaleAndCheck(p.grad, inverse) || foundInf;
      }
    }
    if (agree) foundInf = agree(foundInf);
    this.unscaled = { foundInf };
    return foundInf;
  }

  /** optimizer.step() unless this step's gradients held an inf or NaN; returns whether it stepped. @example scaler.step(opt) */
  step(optimizer: Optimizer<any>): boolean {
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    if (this.stepped) throw new Error("GradScaler.step: already called since the last update()");
    if (!this.unscaled) this.unscale(optimizer);
    this.stepped = true;
    if (this.unscaled!.foundInf) {
      this.skippedSteps++;
      return false;
    }
    optimizer.step();
    return true;
  }

  /** Adjusts the scale from this step's finding (backoff on inf/NaN, growth after a clean interval). @example scaler.update() */
  update(): void {
    if (!this.enabled) return;
    if (!this.unscaled) throw new Error("GradScaler.update: no gradients were unscaled this step (call step() or unscale() first)");
    if (this.unscaled.foundInf) {
      this.currentScale = Math.fround(this.currentScale * this.backoffFactor);
      this.growthTracker = 0;
    } else if (this.growthTracker + 1 === this.growthInterval) {
      const grown = Math.fround(this.currentScale * this.growthFactor);
      if (Number.isFinite(grown)) this.currentScale = grown;
      this.growthTracker = 0;
    } else {
      this.growthTracker++;
    }
    this.unscaled = null;
    this.stepped = false;
  }

  /** Everything needed to resume: scale, settings, growth tracker, skipped steps. @example save(scaler.stateDict()) */
  stateDict(): GradScalerState {
    return {
      scale: this.getScale(),
      growthFactor: this.growthFactor,
      backoffFactor: this.backoffFactor,
      growthInterval: this.growthInterval,
      growthTracker: this.growthTracker,
      skippedSteps: this.skippedSteps,
    };
  }

  /** Restores everything stateDict() saved, settings included, as PyTorch's load_state_dict. @example scaler.loadStateDict(saved) */
  loadStateDict(state: GradScalerState): void {
    if (!(state.scale > 0) || !Number.isInteger(state.growthTracker) || state.growthTracker < 0) {
      throw new RangeError(`GradScaler.loadStateDict: bad state (scale ${state.scale}, growthTracker ${state.growthTracker})`);
    }
    this.growthFactor = state.growthFactor;
    this.backoffFactor = state.backoffFactor;
    this.growthInterval = state.growthInterval;
    this.currentScale = Math.fround(state.scale);
    this.growthTracker = state.growthTracker;
    this.skippedSteps = state.skippedSteps ?? 0;
  }
}
