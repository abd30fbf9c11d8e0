import { Rng } from "../../data/random.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import { type CommunicationHook, type GradientBucket, OVERFLOW_FLAG_BYTES, withFeedback } from "./hook.js";
import { fillNormal, type MatrixView, multiply, multiplyByTransposed, multiplyTransposed, orthonormalizeColumns } from "./low_rank.js";

/** A gradient of the bucket that PowerSGD factors: n×m (its first dimension by the rest) at rank r. */
interface Factored {
  offset: number;
  n: number;
  m: number;
  r: number;
  /** Element offsets of its P in the P buffer and of its Q in the Q buffer. */
  p: number;
  q: number;
}

/** How a bucket splits: matrices factored at rank r, the other gradients sent whole after the P's. */
interface Plan {
  factored: Factored[];
  whole: { offset: number; size: number }[];
  pSize: number;
  qSize: number;
  wholeSize: number;
  /** The Q's kept from the last step (warm start), m×r each. */
  qMemory: Float32Array;
}

/**
 * PowerSGD (Vogels et al., PyTorch's powerSGD_hook) with error feedback and warm start: each
 * gradient matrix M (its first dimension by the rest) gets the residual kept from the last step,
 * then one power iteration: P = M·Q, all-reduce the P's (with the gradients too small to factor
 * appended, sent whole), orthonormalize each P, Q = Mᵀ·P, all-reduce the Q's; the bucket holds
 * P·Qᵀ, and M − P·Qᵀ is kept as the residual. The Q's carry over to the next step (warm start),
 * starting from the same seeded random matrices on every rank. A matrix is factored only where
 * r·(n + m) < n·m. Two small all-reduces of (n + m)·r numbers per matrix instead of n·m.
 *
 * @example new DistributedDataParallel(model, group, { hook: new PowerSGDHook({ rank: 4 }) });
 */
export class PowerSGDHook implements CommunicationHook {
  readonly kind = "powersgd";
  readonly rank: number;
  private readonly seed: number;
  private readonly residuals = new Map<number, Float32Array>();
  private readonly plans = new Map<number, Plan>();

  constructor(options: { rank: number; seed?: number }) {
    if (!(Number.isInteger(options.rank) && options.rank >= 1)) throw new RangeError(`parallel.compression.rank must be an integer ≥ 1, got ${options.rank}`);
    this.rank = options.rank;
    this.seed = options.seed ?? 0;
  }

  reduce(bucket: GradientBucket, group: ProcessGroup): number {
    const input = withFeedback(this.kind, this.residuals, bucket, group);
    if ("sent" in input) return input.sent;
    const { values, residual: m } = input;
    const plan = this.planOf(bucket);
    const matrix = (f: Factored, data: Float32Array): MatrixView => ({ data, at: f.offset, rows: f.n, cols: f.m });
    const pBuffer = Tensor.empty([plan.pSize + plan.wholeSize], "float32", "gradient"),
      qBuffer = Tensor.empty([plan.qSize], "float32", "gradient");
    try {
      const ps = pBuffer.toHost() as Float32Array,
        qs = qBuffer.toHost() as Float32Array;
      const pOf = (f: Factored): MatrixView => ({ data: ps, at: f.p, rows: f.n, cols: f.r }),
        qOf = (f: Factored, data: Float32Array): MatrixView => ({ data, at: f.q, rows: f.m, cols: f.r });
      for (const f of plan.factored) multiply(matrix(f, m), qOf(f, plan.qMemory), pOf(f));
      let at = plan.pSize;
      for (const w of plan.whole) {
        ps.set(m.subarray(w.offset, w.offset + w.size), at);
        at += w.size;
      }
      group.allReduce(pBuffer, "mean").wait();
      at = plan.pSize;
      for (const w of plan.whole) {
        values.set(ps.subarray(at, at + w.size), w.offset);
        m.fill(0, w.offset, w.offset + w.size); // sent exactly: nothing to feed back
        at += w.size;
      }
      if (plan.factored.length === 0) return OVERFLOW_FLAG_BYTES + 4 * pBuffer.size;
      for (const f of plan.factored) {
        orthonormalizeColumns(pOf(f));
        multiplyTransposed(matrix(f, m), pOf(f), qOf(f, qs));
      }
      group.allReduce(qBuffer, "mean").wait();
      plan.qMemory.set(qs);
      for (const f of plan.factored) {
        multiplyByTransposed(pOf(f), qOf(f, qs), matrix(f, values));
        for (let i = f.offset; i < f.offset + f.n * f.m; i++) m[i]! -= values[i]!;
      }
      return OVERFLOW_FLAG_BYTES + 4 * (pBuffer.size + qBuffer.size);
    } finally {
      pBuffer.dispose();
      qBuffer.dispose();
    }
  }

  private planOf(bucket: GradientBucket): Plan {
    const known = this.plans.get(bucket.index);
    if (known) return known;
    const factored: Factored[] = [],
      whole: Plan["whole"] = [];
    let pSize = 0,
      qSize = 0,
      wholeSize = 0;
    bucket.shapes.forEach((shape, i) => {
      const size = shape.reduce((a, d) => a * d, 1),
        offset = bucket.offsets[i]!;
      const n = shape[0] ?? 1,
        m = size / n,
        r = Math.min(this.rank, n, m);
      if (shape.length >= 2 && r * (n + m) < n * m) {
        factored.push({ offset, n, m, r, p: pSize, q: qSize });
        pSize += n * r;
        qSize += m * r;
      } else {
        whole.push({ offset, size });
        wholeSize += size;
      }
    });
    const qMemory = new Float32Array(qSize),
      rng = Rng.seeded(this.seed, bucket.index);
    for (const f of factored) {
      fillNormal(qMemory, f.q, f.m * f.r, rng);
      orthonormalizeColumns({ data: qMemory, at: f.q, rows: f.m, cols: f.r });
    }
    const plan = { factored, whole, pSize, qSize, wholeSize, qMemory };
    this.plans.set(bucket.index, plan);
    return plan;
  }
}
