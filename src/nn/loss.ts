import { mul, sub } from "../ops/binary.js";
import { crossEntropy } from "../ops/loss.js";
import { mean, sum } from "../ops/reduce.js";
import { logSoftmax } from "../ops/softmax.js";
import { exp, square } from "../ops/unary.js";
import { detach } from "../ops/view.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/** Losses: cross-entropy (fused, with label smoothing), mean squared error, and the distillation KL. */

export { crossEntropy };

export type Reduction = "mean" | "sum" | "none";

function reduce(t: Tensor, reduction: Reduction, op: string): Tensor {
  if (reduction === "none") return t;
  if (reduction !== "mean" && reduction !== "sum") throw new RangeError(`${op}: reduction must be "mean", "sum" or "none", got ${JSON.stringify(reduction)}`);
  const out = reduction === "mean" ? mean(t) : sum(t);
  t.dispose();
  return out;
}

/**
 * Mean squared error, as F.mse_loss.
 * @example mseLoss(pred, target)
 */
export function mseLoss(prediction: Tensor, target: Tensor, reduction: Reduction = "mean"): Tensor {
  if (!sameShape(prediction.shape, target.shape)) {
    throw new RangeError(`mseLoss: prediction ${formatShape(prediction.shape)} and target ${formatShape(target.shape)} differ`);
  }
  const diff = sub(prediction, target);
  const sq = square(diff);
  diff.dispose();
  return reduce(sq, reduction, "mseLoss");
}

/**
 * The knowledge-distillation loss (Hinton et al.): T² · KL(softmax(teacher/T) ‖ softmax(student/T)),
 * averaged over the batch (the leading axes), over the class axis last. The teacher's logits
 * get no gradient. Equals T² · F.kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean").
 * @example klDivLoss(studentLogits, teacherLogits, 4)
 */
export function klDivLoss(studentLogits: Tensor, teacherLogits: Tensor, temperature = 1): Tensor {
  if (!sameShape(studentLogits.shape, teacherLogits.shape)) {
    throw new RangeError(`klDivLoss: student ${formatShape(studentLogits.shape)} and teacher ${formatShape(teacherLogits.shape)} differ`);
  }
  if (!(temperature > 0)) throw new RangeError(`klDivLoss: temperature must be positive, got ${temperature}`);
  const teacher = detach(teacherLogits);
  const s = mul(studentLogits, 1 / temperature),
    t = mul(teacher, 1 / temperature);
  const logP = logSoftmax(s),
    logQ = logSoftmax(t);
  const q = exp(logQ);
  const gap = sub(logQ, logP);
  const terms = mul(q, gap);
  const batch = studentLogits.size / studentLogits.shape[studentLogits.ndim - 1]!;
  const total = sum(terms);
  const loss = mul(total, (temperature * temperature) / batch);
  for (const x of [teacher, s, t, logP, logQ, q, gap, terms, total]) x.dispose();
  return loss;
}
