import { nesterovMomentum, scaleAddInPlace } from "../ops/elementwise_optimizer_steps.js";
import { newtonSchulz5 } from "../ops/newton_schulz.js";
import { reshape } from "../ops/view.js";
import { zeros } from "../tensor/create.js";
import { tidy } from "../tensor/scope.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { adamUpdatesInPlace } from "./adam.js";
import { checkBetas, checkRange, type DueUpdate, Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

export interface MuonOptions {
  lr: number;
  /** Muon groups: the momentum β of m ← βm + (1 − β)g. */
  momentum: number;
  /** Muon groups: orthogonalise g + β(m − g) (Nesterov, the reference's default) instead of m. */
  nesterov: boolean;
  /** Newton–Schulz iterations (the reference's 5). */
  nsSteps: number;
  /** Newton–Schulz iterations in bfloat16 (as the reference) rather than float32: where a run trains under bf16 autocast. */
  nsBf16: boolean;
  weightDecay: number;
  /** AdamW groups (useMuon false): betas and eps. */
  betas: readonly [number, number];
  eps: number;
  /** Whether a group's matrices are orthogonalised (true) or updated by AdamW (false). */
  useMuon: boolean;
}

export type MuonHyper = {
  lr: number;
  momentum: number;
  nesterov: boolean;
  nsSteps: number;
  nsBf16: boolean;
  weightDecay: number;
  betas: readonly number[];
  eps: number;
  useMuon: boolean;
};

/**
 * Muon (Keller Jordan's reference, MuonWithAuxAdam): each weight matrix moves by lr times its
 * Nesterov momentum orthogonalised by the quintic Newton–Schulz iteration, scaled by
 * max(1, rows/cols)^0.5, with decoupled weight decay; conv weights are flattened to
 * [out, in·kh·kw]. Groups with `useMuon: false` (embeddings, the output head, biases and norms,
 * which the reference keeps off Muon) take AdamW's update, with their own lr, betas, eps and
 * weight decay. Every step needs each matrix whole, so Muon refuses ZeRO's shards.
 *
 * @example
 * const opt = new Muon(
 *   [{ params: hiddenMatrices }, { params: [...embeddings, head, ...vectors], useMuon: false, lr: 3e-4 }],
 *   { lr: 0.02, momentum: 0.95 },
 * );
 */
export class Muon extends Optimizer<MuonHyper> {
  override readonly needsWholeParameters = true;

  constructor(params: ParamsInput<MuonHyper>, options: Partial<MuonOptions> = {}) {
    super("Muon", params, {
      lr: 0.02,
      momentum: 0.95,
      nesterov: true,
      nsSteps: 5,
      nsBf16: false,
      weightDecay: 0,
      betas: [0.9, 0.95],
      eps: 1e-10,
      useMuon: true,
      ...options,
    });
  }

  protected validate(g: MuonHyper & { params?: Tensor[] }): void {
    checkRange(this.name, "lr", g.lr, 0);
    checkRange(this.name, "momentum", g.momentum, 0, 1);
    checkRange(this.name, "weightDecay", g.weightDecay, 0);
    if (!Number.isInteger(g.nsSteps) || g.nsSteps < 1) throw new RangeError(`Muon: nsSteps must be an integer ≥ 1, got ${JSON.stringify(g.nsSteps)}`);
    if (typeof g.nesterov !== "boolean") throw new TypeError(`Muon: nesterov must be a boolean, got ${JSON.stringify(g.nesterov)}`);
    if (typeof g.nsBf16 !== "boolean") throw new TypeError(`Muon: nsBf16 must be a boolean, got ${JSON.stringify(g.nsBf16)}`);
    if (typeof g.useMuon !== "boolean") throw new TypeError(`Muon: useMuon must be a boolean, got ${JSON.stringify(g.useMuon)}`);
    checkBetas(this.name, g.betas);
    checkRange(this.name, "eps", g.eps, 0);
    for (const p of g.useMuon ? (g.params ?? []) : []) {
      if (p.ndim < 2)
        throw new RangeError(
          `Muon: a useMuon group holds a parameter of shape ${formatShape(p.shape)}; only matrices (rank ≥ 2) can be orthogonalised, give vectors to a group with useMuon: false`,
        );
    }
  }

  protected initState(p: Tensor, group: ParamGroup<MuonHyper>): Record<string, Tensor> {
    return group.useMuon ? { momentumBuffer: zeros(p.shape) } : { expAvg: zeros(p.shape), expAvgSq: zeros(p.shape) };
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<MuonHyper>): void {
    this.updateAll([{ p, grad, state, group: g }]);
  }

  /** The Muon groups' matrices one by one, then every AdamW group's parameter in one multi-tensor kernel call. */
  protected override updateAll(due: readonly DueUpdate<MuonHyper>[]): void {
    for (const { p, grad, state, group } of due) if (group.useMuon) this.muonUpdate(p, grad, state, group);
    adamUpdatesInPlace(
      due.filter((u) => !u.group.useMuon),
      true,
    );
  }

  private muonUpdate(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<MuonHyper>): void {
    if (p.ndim < 2)
      throw new Error(`Muon: parameter ${formatShape(p.shape)} is not a whole matrix (a sharded slice?); Muon orthogonalises whole matrices only`);
    const m = state.tensors.momentumBuffer!;
    tidy(() => {
      let direction: Tensor = m;
      if (g.nesterov) {
        direction = Tensor.empty(p.shape, "float32");
        nesterovMomentum(grad, m, direction, g.momentum);
      } else {
        // m ← βm + (1 − β)g, written through nesterovMomentum's first half into a scratch.
        nesterovMomentum(grad, m, Tensor.empty(p.shape, "float32"), g.momentum);
      }
      const rows = p.shape[0]!,
        cols = p.size / rows;
      const orthogonal = newtonSchulz5(reshape(direction, [rows, cols]), g.nsSteps, g.nsBf16 ? "bfloat16" : "float32");
      scaleAddInPlace(p, 1 - g.lr * g.weightDecay, orthogonal, -g.lr * Math.sqrt(Math.max(1, rows / cols)));
    });
  }
}
