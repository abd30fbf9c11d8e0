/**
 * Fused cross-entropy of logits [n, c] against int32 targets (native/cross_entropy.cc), in
 * float64: the row's loss with PyTorch's label smoothing, (1 − ε)·nll + ε·mean_j(−log p_j),
 * and optionally its gradient for a unit upstream gradient, p − ((1 − ε)·onehot + ε/c). Rows
 * whose target is ignoreIndex get loss 0 and gradient 0.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, DTYPE, encode } from "./dtype.js";

/**
 * Per-row losses (float32) and, where grad is not null, the row gradients.
 *
 * @example
 * const losses = new Float32Array(1);
 * crossEntropy(0, Float32Array.of(0, 0), Int32Array.of(1), losses, null, 1, 2, -100, 0); // [ln 2]
 */
export const crossEntropy: Kernels["crossEntropy"] = (dtype, logits, targets, losses, grad, n, c, ignoreIndex, smoothing) => {
  const args = new Args("crossEntropy");
  const dt = args.floatDtype("dtype", dtype);
  const numel = args.numel([args.integer("n", n), args.integer("c", c)]);
  const ignore = args.integer("ignoreIndex", ignoreIndex);
  const eps = args.number("smoothing", smoothing);
  args.require(eps >= 0 && eps <= 1, () => `label smoothing must be in [0, 1], got ${eps}`);
  args.sized("logits", logits, dt, numel);
  args.sized("targets", targets, DTYPE.int32, n);
  args.sized("losses", losses, DTYPE.float32, n);
  if (grad !== null) args.sized("grad", grad, dt, numel);
  targets.forEach((t, row) =>
    args.require(t === ignore || (t >= 0 && t < c), () => `target ${t} of row ${row} is outside [0, ${c}) and is not ignoreIndex ${ignore}`),
  );
  const x = decode(dt, logits);
  const g = new Float64Array(grad === null ? 0 : numel);
  for (let row = 0; row < n; row++) {
    const t = targets[row]!,
      base = row * c;
    if (t === ignore) {
      losses[row] = 0; // and the row of g stays 0
      continue;
    }
    let m = -Infinity,
      sumX = 0;
    for (let j = 0; j < c; j++) {
      m = Math.max(m, x[base + j]!);
      sumX += x[base + j]!;
    }
    // Σ e^(x_j − max) as the target's term and the rest, so 1 − p = rest/s never cancels.
    let rest = 0;
    for (let j = 0; j < c; j++) if (j !== t) rest += Math.exp(x[base + j]! - m);
    const s = rest + Math.exp(x[base + t]! - m);
    const logS = Math.log(s);
    const nll = m - x[base + t]! + logS;
    losses[row] = eps > 0 ? (1 - eps) * nll + eps * (m - sumX / c + logS) : nll;
    if (grad === null) continue;
    for (let j = 0; j < c; j++) g[base + j] = Math.exp(x[base + j]! - m) / s - eps / c;
    // At the target p − 1 cancels when the model is confident; −(1 − p) = −rest/s does not.
    g[base + t] = eps * (1 - 1 / c) - rest / s;
  }
  if (grad !== null) encode(dt, g, grad);
};
