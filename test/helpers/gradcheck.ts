import assert from "node:assert/strict";

import { noGrad } from "../../src/autograd/grad_mode.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";

export interface GradcheckOptions {
  /** Step of the central difference, relative to max(1, |x|). */
  eps?: number;
  rtol?: number;
  atol?: number;
  /** Elements checked per input (spread over the tensor). */
  samples?: number;
  /**
   * Share of each input's sampled elements that must be real checks rather than kinks
   * (default 0.75): a check that skips most of its points checks nothing.
   */
  minChecked?: number;
}

/** What a gradcheck did: elements compared, and elements skipped as kinks. */
export interface GradcheckCount {
  checked: number;
  kinks: number;
}

/**
 * Finite-difference gradient check. S(x) = Σ out·gout is evaluated with turbine's float32
 * forward and accumulated in float64; its central difference at sampled elements must match
 * the analytic gradient from backward. Points where the two one-sided differences disagree
 * are kinks (relu at 0, ties of max) where no derivative exists, and are skipped; each input
 * must have most of its sampled elements really checked, and the counts are returned.
 *
 * @example
 * const { checked } = gradcheck(([x]) => [tanh(x!)], [x], [gout], [x.grad], "tanh");
 */
export function gradcheck(
  fn: (inputs: Tensor[]) => Tensor[],
  inputs: Tensor[],
  gouts: Tensor[],
  analytic: (Tensor | null)[],
  what: string,
  options: GradcheckOptions = {},
): GradcheckCount {
  const eps = options.eps ?? 5e-3,
    rtol = options.rtol ?? 1e-2,
    atol = options.atol ?? 3e-3,
    samples = options.samples ?? 12;
  const minChecked = options.minChecked ?? 0.75;
  const total: GradcheckCount = { checked: 0, kinks: 0 };
  const g = gouts.map((t) => t.toArray());
  const objective = (): number =>
    noGrad(() =>
      tidy(() => {
        const outs = fn(inputs);
        let s = 0;
        outs.forEach((o, k) => {
          const values = o.toArray();
          for (let i = 0; i < values.length; i++) s += values[i]! * g[k]![i]!;
        });
        return s;
      }),
    );
  const base = objective();
  inputs.forEach((x, j) => {
    const grad = analytic[j];
    if (!grad || x.dtype !== "float32" || x.size === 0) return;
    const data = x.data as Float32Array;
    const expected = grad.toArray();
    const step = Math.max(1, Math.floor(x.size / samples));
    const count: GradcheckCount = { checked: 0, kinks: 0 };
    for (let i = 0; i < x.size; i += step) {
      const original = data[i]!;
      const h = eps * Math.max(1, Math.abs(original));
      data[i] = original + h;
      const hUp = data[i]! - original;
      const up = objective();
      data[i] = original - h;
      const hDown = original - data[i]!;
      const down = objective();
      data[i] = original;
      const forward = (up - base) / hUp,
        backward = (base - down) / hDown;
      if (Math.abs(forward - backward) > 10 * (atol + rtol * Math.abs(forward))) {
        count.kinks++;
        continue;
      }
      count.checked++;
      const numeric = (up - down) / (hUp + hDown);
      const ok = Math.abs(numeric - expected[i]!) <= atol + rtol * Math.max(Math.abs(numeric), Math.abs(expected[i]!));
      assert.ok(ok, `${what}: gradcheck of input ${j} element ${i}: numeric ${numeric}, analytic ${expected[i]}`);
    }
    const sampled = count.checked + count.kinks;
    assert.ok(
      count.checked >= minChecked * sampled,
      `${what}: gradcheck of input ${j} checked only ${count.checked} of ${sampled} sampled elements (${count.kinks} kinks)`,
    );
    total.checked += count.checked;
    total.kinks += count.kinks;
  });
  return total;
}
