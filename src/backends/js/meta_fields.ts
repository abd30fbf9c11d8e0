/**
 * The js backend's packed-meta layouts, as the interface's `metaFields`: its own field tables
 * (CONV_META, POOL_META, MATMUL_META), which test/backends/js/meta_fields.test.ts checks
 * against the addon's.
 */
import type { Kernels } from "../kernels.js";
import type { MetaLayout } from "../meta.js";
import { CONV_META } from "./conv_shape.js";
import { MATMUL_META } from "./matmul.js";
import { POOL_META } from "./pool.js";

function layout<F extends string>(fields: Readonly<Record<F, number>>): MetaLayout<F> {
  return { fields: { ...fields }, count: Object.keys(fields).length };
}

/** The layouts of the packed metas. @example metaFields().conv2d.fields.groups; // 13 */
export const metaFields: Kernels["metaFields"] = () => ({ conv2d: layout(CONV_META), pool2d: layout(POOL_META), matmul: layout(MATMUL_META) });
