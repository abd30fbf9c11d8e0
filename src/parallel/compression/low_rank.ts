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

/** A matrix read through strides, so a transpose is the same data with rows and columns swapped. */
interface Strided {
  readonly data: Float32Array;
  readonly at: number;
  readonly rows: number;
  readonly cols: number;
  readonly rowStep: number;
  readonly colStep: number;
}

const plain = (x: MatrixView): Strided => ({ ...x, rowStep: x.cols, colStep: 1 });
const transposed = (x: MatrixView): Strided => ({ data: x.data, at: x.at, rows: x.cols, cols: x.rows, rowStep: 1, colStep: x.cols });

/** out = a·b, written row-major into out (the fields read once: this loop is the hook's hot path). */
function product(a: Strided, b: Strided, out: MatrixView): void {
  const [x, y, o] = [a.data, b.data, out.data];
  const { rows, cols: inner, rowStep: aRow, colStep: aCol } = a,
    { cols, rowStep: bRow, colStep: bCol } = b;
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      let sum = 0,
        at = a.at + i * aRow,
        bt = b.at + j * bCol;
      for (let k = 0; k < inner; k++, at += aCol, bt += bRow) sum += x[at]! * y[bt]!;
      o[out.at + i * out.cols + j] = sum;
    }
}

/** out = M·Q (n×r). @example multiply(m, q, p); */
export function multiply(m: MatrixView, q: MatrixView, out: MatrixView): void {
  product(plain(m), plain(q), out);
}

/** out = Mᵀ·P (m×r). @example multiplyTransposed(m, p, q); */
export function multiplyTransposed(m: MatrixView, p: MatrixView, out: MatrixView): void {
  product(transposed(m), plain(p), out);
}

/** out = P·Qᵀ (n×m). @example multiplyByTransposed(p, q, m); */
export function multiplyByTransposed(p: MatrixView, q: MatrixView, out: MatrixView): void {
  product(plain(p), transposed(q), out);
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
