import { nesterovMomentum, scaleAddInPlace } from "../ops/elementwise_optimizer_steps.js";
import { newtonSchulz5 } from "../ops/newton_schulz.js";
import { reshape } from "../ops/view.js";
import { zeros } from "../tensor/create.js";
import { tidy } from "../tensor/scope.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { adamUpdatesInPlace } from "./adam.js";
import type { ParameterShards } from "./parameter_shards.js";
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
 * weight decay.
 *
 * On ZeRO's slices (shardWith) the momentum and the AdamW part stay elementwise on each rank's
 * slices; the orthogonalisation needs each momentum matrix whole, so each step all-gathers the
 * Nesterov directions of every unit holding Muon matrices (one all-gather of the unit's chunks,
 * the layout of ZeRO's parameter all-gather), and each rank orthogonalises the matrices its
 * chunk overlaps and moves its slices of them. The ZeRO layout is then the owner assignment: a
 * matrix inside one chunk is orthogonalised by one rank, one across a chunk boundary by each of
 * its ranks, on the same whole values, so they agree. Why an all-gather rather than gathering
 * each matrix on one owner and scattering its update back: it moves (W − 1)/W of a unit into
 * each of W ranks, the same per rank as the owner scheme's gather plus scatter at W = 2 (the
 * common case here), in one collective per unit instead of two per matrix, and the updated
 * slices never travel (the parameter all-gather that follows already moves them). Orthogonalising
 * each rank's own slice instead would be DeepSpeed 7807's silent error: a different update than
 * one process's, for every matrix split across ranks.
 *
 * @example
 * const opt = new Muon(
 *   [{ params: hiddenMatrices }, { params: [...embeddings, head, ...vectors], useMuon: false, lr: 3e-4 }],
 *   { lr: 0.02, momentum: 0.95 },
 * );
 */
export class Muon extends Optimizer<MuonHyper> {
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
      if (p.ndim < 2 && !this.shards?.sliceOf(p))
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
    const muon = due.filter((u) => u.group.useMuon);
    if (this.shards) this.muonSlices(muon, this.shards);
    else for (const { p, grad, state, group } of muon) this.muonUpdate(p, grad, state, group);
    adamUpdatesInPlace(
      due.filter((u) => !u.group.useMuon),
      true,
    );
  }

  private muonUpdate(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<MuonHyper>): void {
    if (p.ndim < 2)
      throw new Error(`Muon: parameter ${formatShape(p.shape)} is not a whole matrix (a sharded slice?); Muon orthogonalises whole matrices only`);
    tidy(() => {
      const direction = momentumDirection(grad, state, g);
      const orthogonal = orthogonalised(direction, p.shape, g);
      scaleAddInPlace(p, 1 - g.lr * g.weightDecay, orthogonal, -g.lr * shapeScale(p.shape));
    });
  }

  /** Muon's update of this rank's slices (see the class comment): every rank calls it, each step. */
  private muonSlices(due: readonly DueUpdate<MuonHyper>[], shards: ParameterShards): void {
    tidy(() => {
      const directions = new Map(due.map((u) => [u.p, momentumDirection(u.grad, u.state, u.group)]));
      const matrices = new Set(this.paramGroups.flatMap((group, i) => (group.useMuon ? shards.wholeParams(i) : [])));
      const whole = shards.gatherWhole(
        (p) => matrices.has(p),
        (slice) => directions.get(slice) ?? null,
      );
      for (const { p, group: g } of due) {
        const slice = shards.sliceOf(p);
        const values = slice && whole.get(slice.whole);
        if (!slice || !values) throw new Error(`Muon: a parameter ${formatShape(p.shape)} is not one of the strategy's slices`);
        const orthogonal = orthogonalised(values, slice.whole.shape, g).viewRange(slice.start, [p.size]);
        scaleAddInPlace(p, 1 - g.lr * g.weightDecay, orthogonal, -g.lr * shapeScale(slice.whole.shape));
      }
    });
  }
}

/** Advances the momentum m of a Muon parameter (or slice) and returns what is orthogonalised: g + β(m − g) with Nesterov, else m. */
function momentumDirection(grad: Tensor, state: ParamState, g: ParamGroup<MuonHyper>): Tensor {
  const m = state.tensors.momentumBuffer!;
  const scratch = Tensor.empty(m.shape, "float32");
  // Without Nesterov: m ← βm + (1 − β)g, written through nesterovMomentum's first half.
  nesterovMomentum(grad, m, scratch, g.momentum);
  return g.nesterov ? scratch : m;
}

/** The Newton–Schulz orthogonalisation of a matrix's direction, as a [rows, rest] matrix (conv kernels flattened). */
function orthogonalised(direction: Tensor, shape: readonly number[], g: ParamGroup<MuonHyper>): Tensor {
  const rows = shape[0]!;
  return newtonSchulz5(reshape(direction, [rows, direction.size / rows]), g.nsSteps, g.nsBf16 ? "bfloat16" : "float32");
}

/** The reference's max(1, rows/cols)^0.5 scale of a matrix's update. */
function shapeScale(shape: readonly number[]): number {
  const rows = shape[0]!,
    cols = shape.reduce((a, b) => a * b, 1) / rows;
  return Math.sqrt(Math.max(1, rows / cols));
}
