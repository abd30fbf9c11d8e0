/**
 * Packing the kernels' Int32Array metas by field name, with the layout the chosen backend
 * defines (`kernels.metaFields()`: the addon's from native/meta_fields.h), so the ops never
 * write a field's position; and the field names and layouts of those metas.
 */

/** The fields of conv2d's packed meta (and the conv2dMaxPool family's); layout 0 NCHW, 1 NHWC. */
export type ConvMetaField = "n" | "c" | "h" | "w" | "o" | "kh" | "kw" | "sh" | "sw" | "ph" | "pw" | "dh" | "dw" | "groups" | "layout";
/** The fields of the pooling kernels' packed meta; layout 0 NCHW, 1 NHWC. */
export type PoolMetaField = "n" | "c" | "h" | "w" | "kh" | "kw" | "sh" | "sw" | "ph" | "pw" | "dh" | "dw" | "layout";
/**
 * The fields of matmul's packed meta; nonzero flags transpose an operand, add into C, mark an
 * extent that changes from call to call (runtimeM/N/K: a backend may then serve every value of
 * it with one prepared kernel: the same product, possibly rounded differently in the last bits),
 * or ask for an operand to be copied into longer rows first (padA/padB: the same product; the
 * native backend's oneDNN reads rows a multiple of 2 KiB long slowly on some CPUs).
 */
export type MatmulMetaField = MatmulShapeField | MatmulFlagField;
type MatmulShapeField = "batchA" | "batchB" | "m" | "n" | "k";
type MatmulFlagField = "transA" | "transB" | "accumulate" | "runtimeM" | "runtimeN" | "runtimeK" | "padA" | "padB";

/** One packed meta's layout: each field's index in the Int32Array, and its length. */
export interface MetaLayout<F extends string> {
  readonly fields: Readonly<Record<F, number>>;
  readonly count: number;
}

/** The layouts of the packed metas, as a backend defines them (the addon: native/meta_fields.h). */
export interface MetaFields {
  conv2d: MetaLayout<ConvMetaField>;
  pool2d: MetaLayout<PoolMetaField>;
  matmul: MetaLayout<MatmulMetaField>;
}

/**
 * A new meta of `layout` with each field set from `values`; a name the layout lacks throws.
 * @example packMeta(metaFields.pool2d, { n: 1, c: 3, h: 8, w: 8, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, dh: 1, dw: 1, layout: 0 })
 */
export function packMeta<F extends string>(layout: MetaLayout<F>, values: Readonly<Record<F, number>>): Int32Array {
  const meta = new Int32Array(layout.count);
  for (const name in values) {
    const index = layout.fields[name];
    if (index === undefined) throw new Error(`packMeta: the backend's meta has no field "${name}"`);
    meta[index] = values[name];
  }
  return meta;
}
