import { apply1, type OpDef } from "../autograd/op.js";
import { fillWith } from "../tensor/create.js";
import { DTYPES } from "../tensor/dtype.js";
import { codes, kernels } from "../backends/index.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { mul } from "./binary.js";
import { dt, requireFloat } from "./util.js";

/** Fused cross-entropy: one native pass gives the row losses and the logits' gradient. */

export interface CrossEntropyOptions {
  /** Rows whose target equals this contribute no loss and no gradient (default -100). */
  ignoreIndex?: number;
  /** ε of PyTorch's label smoothing: the target becomes (1 − ε)·onehot + ε/C (default 0). */
  labelSmoothing?: number;
  /** "mean" over non-ignored rows (default), "sum", or "none" (one loss per row). */
  reduction?: "mean" | "sum" | "none";
}

interface CrossEntropyAttrs {
  ignoreIndex: number;
  labelSmoothing: number;
  reduction: "mean" | "sum" | "none";
  /** Rows whose target is not ignoreIndex: the divisor of "mean". */
  count: number;
}

export const crossEntropyOp: OpDef<CrossEntropyAttrs> = {
  name: "crossEntropy",
  forward: ([x, targets], { ignoreIndex, labelSmoothing, reduction, count }, recording) => {
    const logits = x!;
    const c = logits.shape[logits.ndim - 1]!;
    const n = targets!.size;
    const losses = Tensor.empty([n], "float32");
    // The gradient costs a write of every logit: only worth it when backward will read it.
    const grad = recording ? Tensor.empty([n, c], logits.dtype) : null;
    try {
      kernels.crossEntropy(
        dt(logits.dtype),
        logits.data,
        targets!.data as Int32Array,
        losses.data as Float32Array,
        grad?.data ?? null,
        n,
        c,
        ignoreIndex,
        labelSmoothing,
      );
    } catch (error) {
      losses.dispose();
      grad?.dispose();
      throw error;
    }
    const out = reduction === "none" ? perRow(losses, targets!.shape, logits.dtype) : reduced(losses, reduction === "mean" ? count : 1, logits.dtype);
    losses.dispose();
    return { out, scratch: grad ? [grad] : [] };
  },
  backward: ({ saved: [grad], attrs: { reduction, count }, inputShapes }, [g]) => {
    // The saved gradient is for a unit upstream gradient; scale it by the real one.
    const upstream = reduction === "none" ? g!.viewAs([grad!.shape[0]!, 1]) : reduction === "mean" ? mul(g!, count > 0 ? 1 / count : 0) : g!;
    return [mul(grad!, upstream).viewAs(inputShapes[0]!), null];
  },
};

/** The row losses in the logits' dtype, shaped like the targets. */
function perRow(losses: Tensor, shape: readonly number[], dtype: Tensor["dtype"]): Tensor {
  const out = Tensor.empty(shape, dtype);
  kernels.cast(DTYPES.float32.code, losses.data, DTYPES[dtype].code, out.data);
  return out;
}

/**
 * Σ losses / divisor as a scalar in `dtype`; summed in double by the reduce kernel into float32,
 * divided once by the binary kernel (a float32 quotient is the double quotient rounded, so this
 * equals dividing on the host). It stays on kernels, never reading the loss on the host, so a
 * captured step (src/compile) recomputes it on replay.
 */
function reduced(losses: Tensor, divisor: number, dtype: Tensor["dtype"]): Tensor {
  const f32 = DTYPES.float32.code;
  const total = Tensor.empty([], "float32");
  const by = fillWith(Tensor.empty([], "float32"), divisor);
  const out = Tensor.empty([], "float32");
  try {
    kernels.reduce(codes.reduce.sum, f32, losses.data, total.data, 1, losses.size, 1, f32);
    kernels.binary(codes.binary.div!, f32, total.data, by.data, out.data, scalarMeta);
  } finally {
    total.dispose();
    by.dispose();
  }
  if (dtype === "float32") return out;
  const cast = Tensor.empty([], dtype);
  kernels.cast(f32, out.data, DTYPES[dtype].code, cast.data);
  out.dispose();
  return cast;
}

/** The binary kernel's meta of two one-element operands: [ndim 1, shape [1], a's stride 1, b's stride 1]. */
const scalarMeta = Int32Array.of(1, 1, 1, 1);

/**
 * Cross-entropy between logits [..., C] (class axis LAST) and int32 class indices [...], like
 * PyTorch's F.cross_entropy with class-index targets, fused into one native pass. For rank-2
 * logits [N, C] the layout is PyTorch's; for higher ranks PyTorch puts classes on axis 1
 * ([N, C, d1, ...]) while this takes [N, d1, ..., C], the layout a language model produces
 * (flatten to [N·T, C] to compare). "mean" divides by the number of targets that are not
 * ignoreIndex, so it is NaN when every target is ignored (as in PyTorch), with a zero gradient.
 * @example crossEntropy(logits, labels)                               // logits [N, 10], labels int32 [N]
 * @example crossEntropy(logits, tokens, { labelSmoothing: 0.1 })      // logits [B, T, V], tokens [B, T]
 * @example crossEntropy(logits, labels, { reduction: "none" })        // one loss per row
 */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const { ignoreIndex = -100, labelSmoothing = 0, reduction = "mean" } = options;
  requireFloat(logits, "crossEntropy");
  if (targets.dtype !== "int32") {
    throw new TypeError(`crossEntropy: targets ${formatShape(targets.shape)} must be int32 class indices, got ${targets.dtype}`);
  }
  if (logits.ndim === 0 || !sameShape(targets.shape, logits.shape.slice(0, -1))) {
    throw new RangeError(
      `crossEntropy: logits ${formatShape(logits.shape)} need targets of shape ${formatShape(logits.shape.slice(0, -1))} ` +
        `(the class axis is last), got targets ${formatShape(targets.shape)}`,
    );
  }
  if (!Number.isInteger(ignoreIndex)) throw new RangeError(`crossEntropy: ignoreIndex must be an integer, got ${ignoreIndex}`);
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new RangeError(`crossEntropy: labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  }
  if (reduction !== "mean" && reduction !== "sum" && reduction !== "none") {
    throw new RangeError(`crossEntropy: reduction must be "mean", "sum" or "none", got ${JSON.stringify(reduction)}`);
  }
  let count = 0;
  for (const t of targets.data as Int32Array) if (t !== ignoreIndex) count++;
  return apply1(crossEntropyOp, [logits, targets], { ignoreIndex, labelSmoothing, reduction, count });
}
