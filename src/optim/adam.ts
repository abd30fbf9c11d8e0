import { noGrad } from "../autograd/grad_mode.js";
import { zeros } from "../tensor/create.js";
import { bf16CopyOf, copyWritten, pinLowCopy, unpinLowCopy } from "../tensor/low_copy.js";
import { adamStepsInPlace } from "../ops/optimizer_kernels.js";
import type { Tensor } from "../tensor/tensor.js";
import { OffloadedMoments } from "./offload/offloaded_moments.js";
import { checkBetas, checkRange, type DueUpdate, Optimizer, type OptimizerStateDict, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

export interface OffloadOptions {
  /**
   * Parameters whose float32 master weights go to the file too. Forward must read each only
   * through its bf16 copy (a Linear's weight under bf16 autocast): the copy is pinned and each
   * step writes it, and the parameter holds no elements until closeOffload.
   */
  masters?: readonly Tensor[];
}

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
 * The Adam (decoupled: AdamW) update of every entry of `due` in one multi-tensor kernel call,
 * each parameter's autocast bf16 copy written in the same pass; the moments are the state's
 * expAvg and expAvgSq. Adam's step, and Muon's for its AdamW groups.
 * @example adamUpdatesInPlace(due, true);
 */
export function adamUpdatesInPlace<H extends AdamHyper>(due: readonly DueUpdate<H>[], decoupled: boolean): void {
  if (hyperRows.length < 7 * due.length) hyperRows = new Float64Array(7 * due.length);
  const updates = due.map(({ p, grad, state, group }, i) => {
    adamHyperOf(group, state.step, decoupled, hyperRows.subarray(7 * i, 7 * i + 7));
    // Autocast's bf16 copy of p, if it has one, is written in the same pass (src/tensor/low_copy.ts).
    return { p, grad, expAvg: state.tensors.expAvg!, expAvgSq: state.tensors.expAvgSq!, low: bf16CopyOf(p) };
  });
  adamStepsInPlace(updates, hyperRows);
  for (const u of updates) if (u.low) copyWritten(u.p);
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
    adamUpdatesInPlace(due, this.decoupled);
  }

  private hyperOf(state: ParamState, g: ParamGroup<AdamHyper>, out: Float64Array): Float64Array {
    return adamHyperOf(g, state.step, this.decoupled, out);
  }

  /** Where the moments go when offloaded (offloadState), else null. */
  private offloadPath: string | null = null;
  /** Parameters whose masters go to the file as well (offloadState's options). */
  private offloadMasters: ReadonlySet<Tensor> = new Set();
  /** The file, made at the first step or state load (a strategy may rebind the groups until then), or at once for masters. */
  private offloadFile: OffloadedMoments | null = null;
  /** Tensors the last stateDict() or offloadedParameter() read from the offload file, disposed at the next step or stateDict. */
  private readCopies: Tensor[] = [];

  /**
   * Keeps the two moments in a file at `path` instead of memory, updated parameter by
   * parameter with the next one's read ahead by a thread of its own: the same updates,
   * bitwise, for 8 bytes less memory per parameter element. With `masters`, those parameters'
   * float32 values go to the file too (4 bytes less each), their bf16 copies staying resident
   * for forward. The file is made at the first step (or state load; with masters, at once) for
   * the parameters the groups hold then, so a strategy that rebinds them to its shards (ZeRO)
   * offloads only those;
   * it is removed by closeOffload or when the process exits. Moments already made move to it.
   * stateDict() then reads them into new tensors, valid until the next step or stateDict.
   *
   * @example
   * const opt = new AdamW(model.parameters(), { lr: 1e-3 });
   * opt.offloadState("runs/gpt/offload/rank0.bin", { masters: [fc.weight] });
   * opt.step();
   * opt.closeOffload();   // fc.weight holds its values again
   */
  offloadState(path: string, options: OffloadOptions = {}): void {
    if (this.offloadPath !== null) throw new Error(`${this.name}.offloadState: the state is already offloaded to ${this.offloadPath}`);
    for (const p of options.masters ?? []) {
      if (p.dtype !== "float32" || p.isMeta)
        throw new TypeError(`${this.name}.offloadState: a master must be a float32 parameter with its values, got ${p.dtype} [${p.shape.join(", ")}]`);
    }
    this.offloadPath = path;
    this.offloadMasters = new Set(options.masters ?? []);
    // Masters leave at once, before a first forward could make them part of the peak.
    if (this.offloadMasters.size > 0) this.file();
    if (this.state.size > 0) this.moveStateToFile();
  }

  override offloadedBytes(): number {
    return this.offloadFile?.bytes ?? 0;
  }

  /**
   * A parameter whose master weights are in the offload file: its values read into a new
   * tensor (category "other"), valid until the next step or stateDict; null for any other.
   */
  override offloadedParameter(p: Tensor): Tensor | null {
    if (!this.offloadFile?.holdsMaster(p)) return null;
    const values = this.offloadFile.readMaster(p, "other");
    this.readCopies.push(values);
    return values;
  }

  /**
   * Writes `values` (a checkpoint's) into a parameter whose master weights are in the offload
   * file, and its pinned bf16 copy from them; false for any other parameter.
   */
  override loadOffloadedParameter(p: Tensor, values: Tensor): boolean {
    if (!this.offloadFile?.holdsMaster(p)) return false;
    const copy = zeros(p.shape, { category: "parameter" });
    copy.toHost().set(values.toHost());
    p.realize(copy);
    // A new version: the pinned copy is cast again from these values.
    unpinLowCopy(p);
    p.version++;
    pinLowCopy(p);
    this.offloadFile.storeMaster(p);
    p.unrealize();
    return true;
  }

  /**
   * Gives the offloaded masters their values back (unless `restoreMasters` is false: a finished
   * run whose model is not used again) and removes the offload file; the optimizer cannot step
   * after this.
   * @example opt.closeOffload()
   */
  closeOffload({ restoreMasters = true }: { restoreMasters?: boolean } = {}): void {
    this.disposeReadCopies();
    const file = this.offloadFile;
    if (!file) return;
    for (const p of restoreMasters ? this.offloadMasters : []) {
      if (!file.holdsMaster(p)) continue;
      p.realize(file.readMaster(p, "parameter"));
      unpinLowCopy(p);
    }
    this.offloadMasters = new Set();
    file.close();
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
  }

  /** As the base class; offloaded moments are read from the file into new tensors, valid until the next step or stateDict. */
  override paramState(p: Tensor): ParamState | undefined {
    const s = super.paramState(p);
    if (!s || !this.offloadFile || Object.keys(s.tensors).length > 0) return s;
    const tensors = this.offloadFile.read(p);
    for (const t of Object.values(tensors)) this.readCopies.push(t);
    return { step: s.step, tensors };
  }

  /** As the base class, then into the offload file when offloaded (a checkpoint's moments are not left in memory). */
  override setParamState(p: Tensor, saved: ParamState, what: string): void {
    super.setParamState(p, saved, what);
    if (this.offloadPath !== null) this.moveStateToFile();
  }

  private file(): OffloadedMoments {
    if (this.offloadFile) return this.offloadFile;
    const params = this.paramGroups.flatMap((g) => g.params);
    const masters = new Set(params.filter((p) => this.offloadMasters.has(p)));
    const file = new OffloadedMoments(this.offloadPath!, params, masters);
    this.offloadFile = file;
    for (const p of masters) {
      // The copy forward computes with from now on; made from the values before they leave.
      pinLowCopy(p);
      file.storeMaster(p);
      p.unrealize();
    }
    return file;
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
