import type { Rng } from "../../data/random.js";

/**
 * Dense row-major helpers for PowerSGD's factors: the matrix M is n×m, P n×r, Q m×r, each a
 * range of a flat Float32Array (`at` its first element). Sums run in double precision.
 */
export interface MatrixView {
  readonly data: Float32Array;
  readonly at: number;
  readonly rows: number;
  readonly cols: number;
}

/** out = M·Q (n×r). @example multiply(m, q, p); */
export function multiply(m: MatrixView, q: MatrixView, out: MatrixView): void {
  for (let a = 0; a < m.rows; a++)
    for (let c = 0; c < q.cols; c++) {
      let sum = 0;
      for (let b = 0; b < m.cols; b++) sum += m.data[m.at + a * m.cols + b]! * q.data[q.at + b * q.cols + c]!;
      out.data[out.at + a * out.cols + c] = sum;
    }
}

/** out = Mᵀ·P (m×r). @example multiplyTransposed(m, p, q); */
export function multiplyTransposed(m: MatrixView, p: MatrixView, out: MatrixView): void {
  for (let b = 0; b < m.cols; b++)
    for (let c = 0; c < p.cols; c++) {
      let sum = 0;
      for (let a = 0; a < m.rows; a++) sum += m.data[m.at + a * m.cols + b]! * p.data[p.at + a * p.cols + c]!;
      out.data[out.at + b * out.cols + c] = sum;
    }
}

/** out = P·Qᵀ (n×m). @example multiplyByTransposed(p, q, m); */
export function multiplyByTransposed(p: MatrixView, q: MatrixView, out: MatrixView): void {
  for (let a = 0; a < p.rows; a++)
    for (let b = 0; b < q.rows; b++) {
      let sum = 0;
      for (let c = 0; c < p.cols; c++) sum += p.data[p.at + a * p.cols + c]! * q.data[q.at + b * q.cols + c]!;
      out.data[out.at + a * out.cols + b] = sum;
    }
}

/**
 * Gram-Schmidt on the columns, in place: each column loses its projections on the earlier ones
 * and is scaled to unit length (a zero column stays zero rather than becoming NaN).
 * @example orthonormalizeColumns(p);
 */
export function orthonormalizeColumns(x: MatrixView): void {
  const { data, at, rows, cols } = x;
  for (let c = 0; c < cols; c++) {
    for (let prev = 0; prev < c; prev++) {
      let dot = 0;
      for (let a = 0; a < rows; a++) dot += data[at + a * cols + c]! * data[at + a * cols + prev]!;
      for (let a = 0; a < rows; a++) data[at + a * cols + c]! -= dot * data[at + a * cols + prev]!;
    }
    let norm = 0;
    for (let a = 0; a < rows; a++) norm += data[at + a * cols + c]! ** 2;
    const scale = 1 / (Math.sqrt(norm) + 1e-8);
    for (let a = 0; a < rows; a++) data[at + a * cols + c]! *= scale;
  }
}

/**
 * Standard normal values (Box-Muller) from a seeded generator: the same on every rank.
 * @example fillNormal(q, 0, q.length, Rng.seeded(0, bucket));
 */
export function fillNormal(out: Float32Array, from: number, count: number, rng: Rng): void {
  for (let i = 0; i < count; i++) {
    const u = 1 - rng.nextFloat(),
      v = rng.nextFloat();
    out[from + i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
