import { Adam, type AdamHyper, type AdamOptions } from "../../optim/adam.js";
import type { DueUpdate, ParamsInput } from "../../optim/optimizer.js";
import type { ProcessGroup } from "../process_group.js";
import type { MomentumCompressor } from "./momentum_compressor.js";

export interface FrozenVarianceAdamOptions extends AdamOptions {
  /** Steps of plain AdamW (gradients all-reduced in full) before the variance freezes and the momentum is compressed. */
  freezeStep: number;
  /** How the momentum is averaged over the ranks after the freeze (with its own error feedback). */
  compressor: MomentumCompressor;
  /**
   * What the compressor averages: "shared" (1-bit Adam) the momentum, which every rank then
   * replaces by the compressed mean (dense signs keep it); "momentum" each rank's momentum of
   * its own gradients, kept local (deep gradient compression's momentum correction: a sparse or
   * low-rank compressor would otherwise erase the momentum of every entry it does not send),
   * the compressed mean applied through the frozen variance; "update" the same with each rank's
   * step m/√v̂ compressed instead of m, so top-k keeps the entries that move the parameters most
   * rather than those with the largest raw momentum. All three are linear in the gradients
   * once v̂ is frozen. Default "momentum".
   */
  averages: FrozenVarianceAverage;
}

/** What a frozen-variance Adam's compressor averages over the ranks (FrozenVarianceAdamOptions.averages). */
export type FrozenVarianceAverage = "shared" | "momentum" | "update";

/**
 * 1-bit Adam's scheme (Tang et al. 2021, DeepSpeed's OnebitAdam) with any compressor: AdamW,
 * decoupled weight decay included, for its first `freezeStep` steps, with data parallel
 * averaging the gradients in full precision; from then on the variance (and its bias correction)
 * stays frozen, each rank folds its own, local gradient into the momentum, and the momentum, not
 * the gradient, is averaged over the ranks through `compressor` (signs and scales for 1-bit Adam,
 * the largest entries, low-rank factors). Adam's variance is what does not survive gradient
 * compression (a coordinate error feedback held back for many steps arrives as one rare, large
 * gradient that the per-coordinate normalisation shrinks back to a usual step); frozen after the
 * warm-up, it acts as a fixed preconditioner and the momentum is then a linear function of the
 * gradients, which error feedback keeps unbiased. Elements whose variance is exactly zero at the
 * freeze (no gradient ever reached them: dead units, unused embedding rows) keep a zero
 * momentum, DeepSpeed's `exp_avg_mask` made automatically. `FrozenVarianceDataParallel` is the
 * strategy that stops syncing gradients once `compressing`. After the warm-up every trained
 * parameter needs a gradient on every rank, as DDP gives it. Without a group (one process) the
 * frozen steps do not compress. The compression errors are not part of the checkpoint: they
 * restart at zero on resume.
 *
 * @example
 * const compressor = hookAsMomentumCompressor(new TopKHook({ ratio: 0.01 }));
 * const optimizer = new FrozenVarianceAdam(model.parameters(), { lr: 1e-3, freezeStep: 20, compressor });
 * const strategy = new FrozenVarianceDataParallel(model, group);   // attaches the group at the first step
 */
export class FrozenVarianceAdam extends Adam {
  readonly freezeStep: number;
  private group: ProcessGroup | null = null;
  private readonly compressor: MomentumCompressor;
  private readonly averages: FrozenVarianceAverage;
  private sent = 0;

  constructor(
    params: ParamsInput<AdamHyper>,
    options: Partial<FrozenVarianceAdamOptions> & Pick<FrozenVarianceAdamOptions, "compressor">,
    name = "FrozenVarianceAdam",
  ) {
    const { freezeStep = 100, compressor, averages = "momentum", ...adam } = options;
    super(params, adam, name, true);
    this.averages = averages;
    if (!Number.isInteger(freezeStep) || freezeStep < 1) throw new RangeError(`${name}: freezeStep must be an integer ≥ 1, got ${freezeStep}`);
    this.freezeStep = freezeStep;
    this.compressor = compressor;
  }

  /**
   * The ranks the momentum is averaged over after the warm-up (the strategy's group).
   * @example optimizer.attach(group);
   */
  attach(group: ProcessGroup): void {
    this.group = group;
  }

  /**
   * Whether the next step is past the warm-up: it compresses the momentum of local gradients.
   * @example if (optimizer.compressing) ddp.noSync(() => loss.backward());
   */
  get compressing(): boolean {
    for (const state of this.state.values()) if (state.step >= this.freezeStep) return true;
    return false;
  }

  /** Bytes this optimizer has sent averaging the momentum so far. @example optimizer.commBytes */
  get commBytes(): number {
    return this.sent;
  }

  protected override updateAll(due: readonly DueUpdate<AdamHyper>[]): void {
    if (due.length === 0 || due[0]!.state.step <= this.freezeStep) {
      super.updateAll(due);
      return;
    }
    const total = this.paramGroups.reduce((n, g) => n + g.params.length, 0);
    if (due.length !== total)
      throw new Error(`${this.name}: after the warm-up every parameter needs a gradient on every rank; ${due.length} of ${total} have one`);
    const size = due.reduce((n, u) => n + u.p.size, 0),
      momentum = new Float32Array(size),
      direction = this.averages === "shared" ? momentum : new Float32Array(size),
      starts: number[] = [],
      shapes = due.map((u) => u.p.shape);
    let at = 0;
    for (const { grad, state, group } of due) {
      starts.push(at);
      const g = grad.toHost() as Float32Array,
        m = state.tensors.expAvg!.toHost() as Float32Array,
        v = state.tensors.expAvgSq!.toHost() as Float32Array,
        beta1 = group.betas[0]!,
        denominator = this.denominator(group);
      // DeepSpeed's exp_avg_mask, found by itself: an element that never had a gradient before
      // the freeze keeps a zero momentum (any step over its zero variance is a blow-up).
      for (let i = 0; i < m.length; i++) momentum[at + i] = v[i] === 0 ? 0 : beta1 * m[i]! + (1 - beta1) * g[i]!;
      if (this.averages === "momentum") direction.set(momentum.subarray(at, at + m.length), at);
      if (this.averages === "update") for (let i = 0; i < m.length; i++) direction[at + i] = momentum[at + i]! / denominator(v[i]!);
      at += m.length;
    }
    // The direction every rank applies: the compressed mean over the ranks.
    if (this.group && this.group.size > 1) this.sent += this.compressor.average(direction, this.group, starts, shapes);
    at = 0;
    for (const { p, state, group } of due) {
      const m = state.tensors.expAvg!.toHost() as Float32Array,
        v = state.tensors.expAvgSq!.toHost() as Float32Array,
        w = p.toHost() as Float32Array;
      m.set(momentum.subarray(at, at + m.length));
      const d = direction.subarray(at, at + m.length);
      at += m.length;
      const stepSize = group.lr / (1 - group.betas[0]! ** state.step),
        decay = 1 - group.lr * group.weightDecay,
        denominator = this.averages === "update" ? () => 1 : this.denominator(group);
      for (let i = 0; i < w.length; i++) {
        // Signs cannot say zero: a masked element only decays.
        if (v[i] === 0) m[i] = 0;
        const update = v[i] === 0 ? 0 : (stepSize * d[i]!) / denominator(v[i]!);
        w[i] = w[i]! * decay - update;
      }
    }
  }

  /** Adam's denominator √v̂ + ε of a group's elements over their frozen variance v. */
  private denominator(group: { betas: readonly number[]; eps: number }): (v: number) => number {
    const correction = Math.sqrt(1 - group.betas[1]! ** this.freezeStep),
      eps = group.eps;
    return (v) => Math.sqrt(v) / correction + eps;
  }
}
