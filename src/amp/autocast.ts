import { isGradEnabled } from "../autograd/grad_mode.js";
import { resumingAutocast, setAutocastCapturer, setAutocastHook, setAutocastLowDType, type AutocastInputs } from "../ops/autocast_hook.js";
import { cast } from "../ops/cast.js";
import { autocastInputCount, type OpName } from "../ops/registry.js";
import { isFloating, type DType } from "../tensor/dtype.js";
import { expireLowCopies } from "../tensor/low_copy.js";
import type { Tensor } from "../tensor/tensor.js";
import { AUTOCAST_POLICY, type LowPrecision } from "./policy.js";

/**
 * Autocast scopes: inside one, the ops of the policy table (src/amp/policy.ts) cast their
 * floating inputs, through the differentiable cast op, so gradients flow back to float32
 * master weights in float32. Scopes nest (an inner `enabled: false` turns autocast off) and
 * belong to the thread that opened them, like grad mode.
 *
 * A parameter (a leaf that requires grad) is cast once per outermost scope and the copy reused
 * by every op that reads it, however often (a tied embedding, an unrolled layer): the Trainer
 * opens one scope per step, so the low-precision copy is made once per step, after the
 * optimizer's update. PyTorch keeps the same cache and clears it when autocast exits. An update
 * of a parameter inside a scope is not seen by its cached copy. Linear, the most common reader,
 * goes further: under bfloat16 it reads its weight's persistent copy (src/tensor/low_copy.ts),
 * which Adam and AdamW write during their step, so a training step casts no weight at all.
 */

export interface AutocastOptions {
  /** The dtype of the "low" ops (default bfloat16). */
  dtype?: LowPrecision;
  /** false turns autocast off inside this scope (default true). */
  enabled?: boolean;
}

interface Frame {
  dtype: LowPrecision;
  enabled: boolean;
}

interface CachedCast {
  dtype: DType;
  recorded: boolean;
  tensor: Tensor;
}

const frames: Frame[] = [];
const weightCache = new Map<Tensor, CachedCast[]>();

/**
 * Runs fn with mixed precision: matrix products, convolutions and attention in `dtype` (with
 * float32 accumulation), softmax, norms, losses and reductions in float32.
 * @example
 * const loss = autocast({ dtype: "bfloat16" }, () => crossEntropy(model.forward(x), y));
 * loss.backward();          // outside the scope, as in PyTorch
 */
export function autocast<T>(options: AutocastOptions, fn: () => T): T {
  const dtype = options.dtype ?? "bfloat16";
  if (dtype !== "bfloat16" && dtype !== "float16") throw new TypeError(`autocast: dtype must be "bfloat16" or "float16", got ${String(dtype)}`);
  const outermost = frames.length === 0;
  const previousHook = outermost ? setAutocastHook(castInputs) : null;
  frames.push({ dtype, enabled: options.enabled ?? true });
  try {
    return fn();
  } finally {
    frames.pop();
    if (outermost) {
      clearWeightCache();
      expireLowCopies();
      setAutocastHook(previousHook);
    }
  }
}

/** The dtype "low" ops run in here, or null outside autocast. @example autocastDType() // "bfloat16" */
export function autocastDType(): LowPrecision | null {
  const top = frames[frames.length - 1];
  return top?.enabled ? top.dtype : null;
}

function clearWeightCache(): void {
  for (const entries of weightCache.values()) {
    for (const e of entries) {
      e.tensor.kept = false;
      e.tensor.dispose();
    }
  }
  weightCache.clear();
}

/** bf16 with f16 promotes to float32, as in PyTorch. */
function widest(inputs: readonly Tensor[]): DType {
  let result: DType | null = null;
  for (const t of inputs) {
    if (!isFloating(t.dtype) || t.dtype === result) continue;
    result = result === null ? t.dtype : "float32";
  }
  return result ?? "float32";
}

/** A parameter's copy in dtype for this scope: made by its first use, kept until the scope ends. */
function cachedCast(p: Tensor, dtype: DType): Tensor {
  const recorded = isGradEnabled();
  let entries = weightCache.get(p);
  const hit = entries?.find((e) => e.dtype === dtype && e.recorded === recorded);
  if (hit) return hit.tensor;
  const tensor = cast(p, dtype);
  // Kept: tidy() scopes inside the autocast scope (one per evaluation batch) must not free it.
  tensor.kept = true;
  if (!entries) weightCache.set(p, (entries = []));
  entries.push({ dtype, recorded, tensor });
  return tensor;
}

function castInputs(op: OpName, inputs: readonly Tensor[]): AutocastInputs | null {
  const frame = frames[frames.length - 1];
  const policy = AUTOCAST_POLICY[op];
  if (!frame?.enabled || policy === undefined) return null;
  const count = autocastInputCount(op, inputs.length);
  const ruled = count === inputs.length ? inputs : inputs.slice(0, count);
  const target: DType = policy === "low" ? frame.dtype : policy === "f32" ? "float32" : widest(ruled);
  if (!ruled.some((t) => isFloating(t.dtype) && t.dtype !== target)) return null;
  const temporaries: Tensor[] = [];
  const cast_ = inputs.map((t, i) => {
    if (i >= count || !isFloating(t.dtype) || t.dtype === target) return t;
    if (t.isLeaf && t.requiresGrad) return cachedCast(t, target);
    const c = cast(t, target);
    temporaries.push(c);
    return c;
  });
  return { inputs: cast_, temporaries };
}

/** A run's precision: float32 runs fn as it is, the others inside an autocast scope. */
export type Precision = "float32" | LowPrecision;

/**
 * fn in a training precision: the Trainer's one call around forward and loss.
 * @example const loss = withPrecision("bfloat16", () => task.loss(model, batch));
 */
export function withPrecision<T>(precision: Precision, fn: () => T): T {
  return precision === "float32" ? fn() : autocast({ dtype: precision }, fn);
}

// Checkpointed blocks recompute in backward in the dtype their forward ran in.
setAutocastCapturer(() => {
  const dtype = autocastDType();
  return dtype === null ? null : <T>(fn: () => T): T => resumingAutocast(() => autocast({ dtype }, fn));
});

// Linear reads its float32 weight's persistent low-precision copy (src/tensor/low_copy.ts).
setAutocastLowDType((op) => (AUTOCAST_POLICY[op] === "low" ? autocastDType() : null));
