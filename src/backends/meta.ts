/**
 * Packing the kernels' Int32Array metas by field name, with the layout the chosen backend
 * defines (`kernels.metaFields()`: the addon's from native/meta_fields.h), so the ops never
 * write a field's position.
 */
import type { MetaLayout } from "./kernels.js";

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
