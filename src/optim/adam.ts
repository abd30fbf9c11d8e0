import { noGrad } from "../autograd/grad_mode.js";
import { zeros } from "../tensor/create.js";
import { bf16CopyOf, copyWritten } from "../tensor/low_copy.js";
import { adamStepsInPlace } from "../ops/optimizer_kernels.js";
import type { Tensor } from "../tensor/tensor.js";
import { OffloadedMoments } from "./offload/offloaded_moments.js";
import { checkBetas, checkRange, type DueUpdate, Optimizer, type OptimizerStateDict, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

export interface AdamOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

export type AdamHyper = { lr: number; betas: readonly number[]; eps: number; weightDecay: number };

/** The hyper rows of a multi-tensor step, grown to the largest step's parameter count. */
let hyperRows = new Float64Array(7);

/** Throws, naming the value, unless lr, betas, eps and weightDecay are valid (Adam, AdamW, LAMB). @example checkAdamHyper("LAMB", group) */
export function checkAdamHyper(optimizer: string, g: AdamHyper): void {
  checkRange(optimizer, "lr", g.lr, 0);
  checkBetas(optimizer, g.betas);
  checkRange(optimizer, "eps", g.eps, 0);
  checkRange(optimizer, "weightDecay", g.weightDecay, 0);
}

/**
 * The fused Adam kernel's hyper array of a group at a step: [lr, beta1, beta2, eps,
 * weightDecay, step, decoupled], written into out.
 * @example adamStepInPlace(p, g, m, v, null, adamHyperOf(group, state.step, true, new Float64Array(7)));
 */
export function adamHyperOf(g: AdamHyper, step: number, decoupled: boolean, out: Float64Array): Float64Array {
  out[0] = g.lr;
  out[1] = g.betas[0]!;
  out[2] = g.betas[1]!;
  out[3] = g.eps;
  out[4] = g.weightDecay;
  out[5] = step;
  out[6] = decoupled ? 1 : 0;
  return out;
}

/**
 * Adam (Kingma & Ba) with PyTorch's defaults; weight decay is an L2 term added to the
 * gradient. A step updates every parameter in one multi-tensor native call (one fused pass per
 * parameter, parameters spread over the threads).
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
    checkAdamHyper(this.name, g);
  }

  protected initState(p: Tensor): Record<string, Tensor> {
    return this.offloadPath !== null ? {} : { expAvg: zeros(p.shape), expAvgSq: zeros(p.shape) };
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<AdamHyper>): void {
    this.updateAll([{ p, grad, state, group: g }]);
  }

  /** Every due parameter in one multi-tensor kernel call. */
  protected override updateAll(due: readonly DueUpdate<AdamHyper>[]): void {
    if (hyperRows.length < 7 * due.length) hyperRows = new Float64Array(7 * due.length);
    const updates = due.map(({ p, grad, state, group }, i) => {
      adamHyperOf(group, state.step, this.decoupled, hyperRows.subarray(7 * i, 7 * i + 7));
      // Autocast's bf16 copy of p, if it has one, is written in the same pass (src/tensor/low_copy.ts).
      return { p, grad, expAvg: state.tensors.expAvg!, expAvgSq: state.tensors.expAvgSq!, low: bf16CopyOf(p) };
    });
    adamStepsInPlace(updates, hyperRows);
    for (const u of updates) if (u.low) copyWritten(u.p);
  }

  private hyperOf(state: ParamState, g: ParamGroup<AdamHyper>, out: Float64Array): Float64Array {
    return adamHyperOf(g, state.step, this.decoupled, out);
  }

  /** Where the moments go when offloaded (offloadState), else null. */
  private offloadPath: string | null = null;
  /** The file, made at the first step or state load: a strategy may rebind the groups until then. */
  private offloadFile: OffloadedMoments | null = null;
  /** Tensors the last stateDict() read from the offload file, disposed at the next step or stateDict. */
  private readCopies: Tensor[] = [];

  /**
   * Keeps the two moments in a file at `path` instead of memory, updated parameter by
   * parameter with the next one's read ahead by a thread of its own: the same updates,
   * bitwise, for 8 bytes less memory per parameter element. The file is made at the first step
   * (or state load) for the parameters the groups hold then, so a strategy that rebinds them to
   * its shards (ZeRO) offloads only those; it is removed by closeOffload or when the process
   * exits. Moments already made move to it. stateDict() then reads them into new tensors,
   * valid until the next step or stateDict.
   *
   * @example
   * const opt = new AdamW(model.parameters(), { lr: 1e-3 });
   * opt.offloadState("runs/gpt/offload/rank0.bin");
   * opt.step();
   * opt.closeOffload();
   */
  offloadState(path: string): void {
    if (this.offloadPath !== null) throw new Error(`${this.name}.offloadState: the state is already offloaded to ${this.offloadPath}`);
    this.offloadPath = path;
    if (this.state.size > 0) this.moveStateToFile();
  }

  override offloadedBytes(): number {
    return this.offloadFile?.bytes ?? 0;
  }

  /** Removes the offload file; the optimizer cannot step after this. @example opt.closeOffload() */
  closeOffload(): void {
    this.disposeReadCopies();
    this.offloadFile?.close();
  }

  override step(): void {
    if (this.offloadPath === null) {
      super.step();
      return;
    }
    this.disposeReadCopies();
    noGrad(() => {
      const updates = this.dueUpdates().map(({ p, state, group }) => ({
        p,
        grad: p.grad!,
        low: bf16CopyOf(p),
        hyper: this.hyperOf(state, group, new Float64Array(7)),
      }));
      this.file().step(updates);
      for (const u of updates) if (u.low) copyWritten(u.p);
    });
  }

  override stateDict(): OptimizerStateDict {
    const dict = super.stateDict();
    if (this.offloadPath === null) return dict;
    this.disposeReadCopies();
    const params = this.paramGroups.flatMap((g) => g.params);
    for (const [key, s] of Object.entries(dict.state)) {
      const tensors = this.file().read(params[Number(key)]!);
      for (const t of Object.values(tensors)) this.readCopies.push(t);
      dict.state[Number(key)] = { step: s.step, tensors };
    }
    return dict;
  }

  override loadStateDict(dict: OptimizerStateDict): void {
    this.disposeReadCopies();
    super.loadStateDict(dict);
    if (this.offloadPath !== null) this.moveStateToFile();
  }

  private file(): OffloadedMoments {
    this.offloadFile ??= new OffloadedMoments(
      this.offloadPath!,
      this.paramGroups.flatMap((g) => g.params),
    );
    return this.offloadFile;
  }

  /** Writes state held in tensors to the offload file and frees the tensors. */
  private moveStateToFile(): void {
    for (const [p, s] of this.state) {
      const { expAvg, expAvgSq } = s.tensors;
      if (!expAvg || !expAvgSq) continue;
      this.file().write(p, expAvg, expAvgSq);
      expAvg.dispose();
      expAvgSq.dispose();
      s.tensors = {};
    }
  }

  private disposeReadCopies(): void {
    for (const t of this.readCopies) t.dispose();
    this.readCopies = [];
  }
}
