/**
 * What each kernel of the interface does to its arguments, which the kernel interface's types
 * do not say: which typed arrays it reads, which it writes (all of them, or some elements of
 * arrays that stay live), which are packed metas read as constants, and whether it may be
 * recorded at all. A capture (capture.ts) resolves every argument through this table, and the
 * planner (plan.ts) reads liveness from it.
 */
import type { KernelName } from "../backends/index.js";

/**
 * One argument's role: "r" read, "w" written, "rw" read and written (in place, or partly
 * written), "m" a small packed meta or hyper array read as a constant (its values are copied
 * when recorded: the ops reuse one array from call to call), "-" a number, flag or code.
 * "c" is matmul's output: written, or read and written when the meta's accumulate flag is set.
 */
export type ArgRole = "r" | "w" | "rw" | "m" | "-" | "c";

/**
 * How a kernel takes part in a capture: "pure" kernels are recorded and replayed; a "query"
 * (codes, thread counts, a fused-kernel choice) touches no tensor memory and is not recorded;
 * "hostRead" kernels return a value TypeScript acts on, "random" ones draw from a position that
 * moves every step, "collective" ones need the other ranks and "lists" ones take lists of arrays
 * with per-step hyperparameters (the multi-tensor optimizer steps, which run after a replay): a
 * step that calls one of them outside a hook cannot be replayed from a recording.
 */
export type KernelKind = "pure" | "query" | "hostRead" | "random" | "collective" | "lists";

export interface KernelEffect {
  readonly kind: KernelKind;
  /** The role of each argument, in order (empty for queries). */
  readonly args: readonly ArgRole[];
}

const query: KernelEffect = { kind: "query", args: [] };
const pure = (...args: ArgRole[]): KernelEffect => ({ kind: "pure", args });

// Exhaustive by type: a kernel added to the interface must say here what it does.
const EFFECTS: Readonly<Record<KernelName, KernelEffect>> = {
  setNumThreads: query,
  getNumThreads: query,
  currentCpu: query,
  keepOffCpu: query,
  alignmentOffset: query,
  metaFields: query,
  unaryCodes: query,
  binaryCodes: query,
  reduceCodes: query,
  collectiveCodes: query,
  conv2dDirectFits: query,
  unary: pure("-", "-", "r", "w", "-"),
  unaryBackward: pure("-", "-", "r", "r", "w", "-"),
  binary: pure("-", "-", "r", "r", "w", "m"),
  matmul: pure("r", "r", "c", "r", "-", "-", "m"),
  matmulGelu: pure("r", "r", "w", "r", "-", "-", "m", "w"),
  geluBiasBackward: pure("-", "r", "r", "w", "w", "-", "-"),
  reduce: pure("-", "-", "r", "w", "-", "-", "-", "-"),
  copyStrided: pure("-", "r", "-", "rw", "-", "m"),
  adamStep: pure("rw", "r", "rw", "rw", "w", "m"),
  sgdStep: pure("rw", "r", "rw", "m"),
  // Lists of arrays, with per-step hyperparameters: the optimizer runs after a replay, not in it.
  adamStepMulti: { kind: "lists", args: [] },
  lionStepMulti: { kind: "lists", args: [] },
  lambStepMulti: { kind: "lists", args: [] },
  sumOfSquares: { kind: "hostRead", args: ["-", "r"] },
  onebitPack: { kind: "hostRead", args: ["r", "rw", "w"] },
  onebitUnpack: pure("w", "r", "m"),
  clampInPlace: pure("-", "rw", "-", "-"),
  unscaleAndCheck: { kind: "hostRead", args: ["-", "rw", "-"] },
  cast: pure("-", "r", "-", "w"),
  where: pure("-", "r", "-", "r", "r", "w", "m"),
  embedding: pure("-", "r", "-", "-", "r", "w"),
  embeddingBackward: pure("-", "w", "-", "-", "r", "r"),
  rowsScatterAdd: pure("-", "rw", "-", "-", "r", "r", "r"),
  rowsGatherScaled: pure("-", "r", "-", "-", "r", "r", "w", "r", "w"),
  randomUniform: { kind: "random", args: [] },
  randomNormal: { kind: "random", args: [] },
  randomInt: { kind: "random", args: [] },
  dropout: { kind: "random", args: [] },
  conv2d: pure("r", "r", "r", "w", "-", "m"),
  conv2dMaxPool: pure("r", "r", "r", "w", "w", "m"),
  conv2dMaxPoolBackwardWeights: pure("r", "r", "r", "w", "w", "m"),
  conv2dBackwardData: pure("r", "r", "w", "-", "m"),
  conv2dBackwardWeights: pure("r", "r", "w", "w", "-", "-", "m"),
  conv2dBackwardWeightsGemm: pure("r", "r", "w", "w", "-", "-", "m"),
  conv2dGemm: pure("r", "r", "r", "w", "-", "m"),
  maxPool2d: pure("-", "r", "w", "w", "m"),
  maxPool2dBackward: pure("-", "r", "r", "w", "m"),
  avgPool2d: pure("-", "r", "w", "m", "-"),
  avgPool2dBackward: pure("-", "r", "w", "m", "-"),
  softmax: pure("-", "r", "w", "-", "-", "-", "-"),
  softmaxBackward: pure("-", "r", "r", "w", "-", "-", "-", "-"),
  layerNorm: pure("-", "r", "r", "r", "w", "w", "w", "-", "-", "-", "-"),
  layerNormBackward: pure("-", "r", "r", "r", "r", "r", "w", "w", "w", "-", "-", "-"),
  addLayerNorm: pure("-", "r", "-", "r", "r", "r", "w", "w", "w", "w", "-", "-", "-", "-"),
  addLayerNormBackward: pure("-", "r", "-", "r", "r", "r", "r", "r", "w", "-", "w", "w", "w", "-", "-"),
  // dq, dk and dv may be one array, each call writing a third of it: "rw" keeps it whole.
  attention: pure("-", "r", "r", "r", "w", "w", "-", "-", "-", "-", "m", "-", "-", "-"),
  attentionBackward: pure("-", "r", "r", "r", "r", "r", "r", "rw", "rw", "rw", "-", "-", "-", "-", "m", "-", "-", "-"),
  crossEntropy: pure("-", "r", "r", "w", "w", "-", "-", "-", "-"),
  collectiveReduce: { kind: "collective", args: [] },
  copyBytes: pure("w", "r"),
};

/**
 * The effect of a kernel.
 * @example kernelEffect("cast").args // ["-", "r", "-", "w"]
 */
export function kernelEffect(name: KernelName): KernelEffect {
  return EFFECTS[name];
}
