import { apply1, type OpDef } from "../../autograd/op.js";
import { mul } from "../../ops/binary.js";
import { cast } from "../../ops/cast.js";
import { fillWith } from "../../tensor/create.js";
import { formatShape, sameShape } from "../../tensor/shape.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";

// Megatron's vocabulary-parallel cross-entropy: each rank holds the logits of its slice of the
// vocabulary, and the softmax's maximum, its sum of exponentials and the target's logit are
// combined over the group, so no rank ever holds a row of the full logits. Columns past the true
// vocabulary (the padding that makes the vocabulary divide by the ranks) are masked out: they are
// no class, get no probability and no gradient, so the loss is the unpadded model's.

interface Attrs {
  group: ProcessGroup;
  vocabSize: number;
  ignoreIndex: number;
  /** Rows whose target is not ignoreIndex: the divisor of the mean. */
  count: number;
}

const vocabParallelCrossEntropyOp: OpDef<Attrs> = {
  name: "vocabParallelCrossEntropy",
  forward: ([x, targets], { group, vocabSize, ignoreIndex, count }, recording) => {
    const local = x!.shape[x!.ndim - 1]!;
    const rows = x!.size / local;
    const first = group.rank * local;
    const valid = Math.max(0, Math.min(local, vocabSize - first));
    const logits = x!.toHost() as Float32Array,
      target = targets!.toHost() as Int32Array;
    // One all-reduce for the row maxima, one for the sums of exponentials and target logits.
    const maxima = Tensor.empty([rows]);
    const m = maxima.toHost() as Float32Array;
    for (let r = 0; r < rows; r++) {
      let best = -Infinity;
      for (let c = 0; c < valid; c++) best = Math.max(best, logits[r * local + c]!);
      m[r] = best;
    }
    group.allReduce(maxima, "max");
    const sums = Tensor.empty([2 * rows]);
    const s = sums.toHost() as Float32Array;
    for (let r = 0; r < rows; r++) {
      let total = 0;
      for (let c = 0; c < valid; c++) total += Math.exp(logits[r * local + c]! - m[r]!);
      s[r] = total;
      const t = target[r]! - first;
      s[rows + r] = t >= 0 && t < valid ? logits[r * local + t]! - m[r]! : 0;
    }
    group.allReduce(sums, "sum");
    let loss = 0;
    for (let r = 0; r < rows; r++) if (target[r] !== ignoreIndex) loss += Math.log(s[r]!) - s[rows + r]!;
    const out = fillWith(Tensor.empty([], "float32"), count > 0 ? loss / count : Number.NaN);
    let grad: Tensor | null = null;
    if (recording) {
      // softmax − onehot on this rank's columns, for a unit upstream gradient of the summed loss.
      grad = Tensor.empty([rows, local]);
      const g = grad.toHost() as Float32Array;
      g.fill(0);
      for (let r = 0; r < rows; r++) {
        if (target[r] === ignoreIndex) continue;
        for (let c = 0; c < valid; c++) g[r * local + c] = Math.exp(logits[r * local + c]! - m[r]!) / s[r]!;
        const t = target[r]! - first;
        if (t >= 0 && t < valid) g[r * local + t]! -= 1;
      }
    }
    maxima.dispose();
    sums.dispose();
    return { out, scratch: grad ? [grad] : [] };
  },
  backward: ({ saved: [grad], attrs: { count }, inputShapes }, [g]) => {
    const upstream = mul(g!, count > 0 ? 1 / count : 0);
    const out = mul(grad!, upstream).viewAs(inputShapes[0]!);
    upstream.dispose();
    return [out, null];
  },
};

/**
 * The mean cross-entropy of int32 `targets` [...] under logits split by vocabulary across
 * `group`: this rank's `logits` [..., V/t] are columns [rank·V/t, (rank+1)·V/t) of the full
 * logits of a vocabulary padded to a multiple of the group's size; columns at or past
 * `vocabSize` are padding and take no part. Equals crossEntropy of the full, unpadded logits;
 * computed in float32. Targets equal to `ignoreIndex` (default -100) count neither in the loss
 * nor in the mean.
 * @example const loss = vocabParallelCrossEntropy(localLogits, tokens, tp, 65);   // [B, T, 33] on 2 ranks
 */
export function vocabParallelCrossEntropy(
  logits: Tensor,
  targets: Tensor,
  group: ProcessGroup,
  vocabSize: number,
  options: { ignoreIndex?: number } = {},
): Tensor {
  const { ignoreIndex = -100 } = options;
  if (targets.dtype !== "int32" || logits.ndim === 0 || !sameShape(targets.shape, logits.shape.slice(0, -1))) {
    throw new RangeError(
      `vocabParallelCrossEntropy: logits ${formatShape(logits.shape)} need int32 targets of shape ${formatShape(logits.shape.slice(0, -1))}, got ${targets.dtype} ${formatShape(targets.shape)}`,
    );
  }
  const local = logits.shape[logits.ndim - 1]!;
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > local * group.size || vocabSize <= (local - 1) * group.size) {
    // Padding to a multiple of the ranks adds fewer than one row per rank.
    throw new RangeError(
      `vocabParallelCrossEntropy: vocabSize ${vocabSize} does not fit ${group.size} ranks of ${local} columns (it must be in ${(local - 1) * group.size + 1}..${local * group.size})`,
    );
  }
  let count = 0;
  for (const t of targets.toHost() as Int32Array) {
    if (t === ignoreIndex) continue;
    if (!(t >= 0 && t < vocabSize)) throw new RangeError(`vocabParallelCrossEntropy: target ${t} is outside the vocabulary [0, ${vocabSize})`);
    count++;
  }
  if (logits.dtype === "float32") return apply1(vocabParallelCrossEntropyOp, [logits, targets], { group, vocabSize, ignoreIndex, count });
  const wide = cast(logits, "float32");
  const loss = apply1(vocabParallelCrossEntropyOp, [wide, targets], { group, vocabSize, ignoreIndex, count });
  wide.dispose();
  return loss;
}
