import { type OpName, autocastRules } from "../ops/registry.js";
import type { CastPolicy } from "../ops/autocast_hook.js";

export type { CastPolicy };

/**
 * The autocast policy: op name → what its floating inputs become inside an autocast scope. The
 * rules are the op table's (src/ops/registry.ts, where each is explained); ops without one run
 * in the dtype of their input. A key that is not an op does not compile.
 *
 * @example AUTOCAST_POLICY.matmul // "low"
 */
export const AUTOCAST_POLICY: Readonly<Partial<Record<OpName, CastPolicy>>> = autocastRules();

/** The dtypes an autocast scope may run its "low" ops in. */
export type LowPrecision = "bfloat16" | "float16";
