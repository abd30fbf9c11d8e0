import { Adam, type AdamHyper, type AdamOptions } from "../../optim/adam.js";
import type { DueUpdate, ParamsInput } from "../../optim/optimizer.js";
import type { ProcessGroup } from "../process_group.js";
import { OneBitAllReduce } from "./onebit_allreduce.js";

export interface OneBitAdamOptions extends AdamOptions {
  /** Steps of plain AdamW (gradients all-reduced in full) before the variance freezes and the momentum is compressed. */
  freezeStep: number;
}

/**
 * 1-bit Adam (Tang et al. 2021, DeepSpeed's OnebitAdam): AdamW, decoupled weight decay
 * included, for its first `freezeStep` steps, with data parallel averaging the gradients in full
 * precision; from then on the variance (and its bias correction) stays frozen, each rank folds its
 * own, local gradient into the momentum, and the momentum, not the gradient, is averaged over
 * the ranks through the compressed all-reduce (signs and one scale, error feedback on worker and
 * server side, one scale per parameter tensor, `OneBitAllReduce`): about 32× fewer bytes.
 * Elements whose variance is exactly zero at the freeze (no gradient ever reached them: dead
 * units, unused embedding rows) keep a zero momentum, DeepSpeed's `exp_avg_mask` made
 * automatically. Adam's variance is what does not
 * survive 1-bit compression; frozen after the warm-up, it acts as a fixed preconditioner and the
 * momentum is then a linear function of the gradients, which error feedback keeps unbiased.
 * `OneBitAdamDataParallel` is the strategy that stops syncing gradients once `compressing`.
 * After the warm-up every trained parameter needs a gradient on every rank, as DDP gives it.
 * Without a group (one process) the frozen steps do not compress. The compression errors are
 * not part of the checkpoint: they restart at zero on resume.
 *
 * @example
 * const optimizer = new OneBitAdam(model.parameters(), { lr: 1e-3, freezeStep: 100 });
 * const strategy = new OneBitAdamDataParallel(model, group);   // attaches the group at the first step
 */
export class OneBitAdam extends Adam {
  readonly freezeStep: number;
  private group: ProcessGroup | null = null;
  private readonly reduce = new OneBitAllReduce();
  private sent = 0;

  constructor(params: ParamsInput<AdamHyper>, options: Partial<OneBitAdamOptions> = {}) {
    const { freezeStep = 100, ...adam } = options;
    super(params, adam, "OneBitAdam", true);
    if (!Number.isInteger(freezeStep) || freezeStep < 1) throw new RangeError(`OneBitAdam: freezeStep must be an integer ≥ 1, got ${freezeStep}`);
    this.freezeStep = freezeStep;
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
      throw new Error(`OneBitAdam: after the warm-up every parameter needs a gradient on every rank; ${due.length} of ${total} have one`);
    const momentum = new Float32Array(due.reduce((n, u) => n + u.p.size, 0)),
      starts: number[] = [];
    let at = 0;
    for (const { grad, state, group } of due) {
      starts.push(at);
      const g = grad.toHost() as Float32Array,
        m = state.tensors.expAvg!.toHost() as Float32Array,
        beta1 = group.betas[0]!;
      for (let i = 0; i < m.length; i++) momentum[at + i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
      at += m.length;
    }
    if (this.group && this.group.size > 1) this.sent += this.reduce.average(momentum, this.group, starts);
    at = 0;
    for (const { p, state, group } of due) {
      const m = state.tensors.expAvg!.toHost() as Float32Array,
        v = state.tensors.expAvgSq!.toHost() as Float32Array,
        w = p.toHost() as Float32Array;
      m.set(momentum.subarray(at, at + m.length));
      at += m.length;
      const [beta1, beta2] = group.betas as [number, number],
        stepSize = group.lr / (1 - beta1 ** state.step),
        varianceCorrection = Math.sqrt(1 - beta2 ** this.freezeStep),
        decay = 1 - group.lr * group.weightDecay;
      for (let i = 0; i < w.length; i++) {
        // DeepSpeed's exp_avg_mask, found by itself: an element that never had a gradient keeps
        // a zero momentum (signs cannot say zero, and ±scale over a zero variance is a blow-up).
        if (v[i] === 0) m[i] = 0;
        w[i] = w[i]! * decay - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / varianceCorrection + group.eps);
      }
    }
  }
}
