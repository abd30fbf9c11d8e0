import { apply1, type OpDef } from "../autograd/op.js";
import type { OpName } from "./registry.js";
import { codes, kernels } from "../backends/index.js";
import { sameShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { broadcastMeta, broadcastShapes } from "./broadcast.js";
import { sumTo } from "./reduce.js";
import { log, powScalar, scaleBy, shiftBy } from "./unary.js";
import { dt, requireFloat, requireSameDType } from "./util.js";

/** Element-wise binary ops with NumPy broadcasting; gradients are summed back to each operand's shape. */

const flatMeta = new Int32Array([1, 0, 1, 1]);

/** Runs a native binary kernel into a new tensor of the broadcast shape. */
export function binaryKernel(name: string, a: Tensor, b: Tensor): Tensor {
  requireFloat(a, name);
  requireSameDType(name, a, b);
  if (sameShape(a.shape, b.shape)) {
    // The common case needs no broadcast bookkeeping: one flat run.
    const out = Tensor.empty(a.shape, a.dtype);
    flatMeta[1] = a.size;
    kernels.binary(codes.binary[name]!, dt(a.dtype), a.data, b.data, out.data, flatMeta);
    return out;
  }
  const shape = broadcastShapes(a.shape, b.shape, name);
  const out = Tensor.empty(shape, a.dtype);
  kernels.binary(codes.binary[name]!, dt(a.dtype), a.data, b.data, out.data, broadcastMeta(shape, [a.shape, b.shape]));
  return out;
}

function twoSided(name: OpName, grads: (g: Tensor, saved: readonly Tensor[]) => [Tensor, Tensor], saves: "ab" | "none" | "aby"): OpDef<void> {
  return {
    name,
    forward: ([a, b]) => {
      const out = binaryKernel(name, a!, b!);
      return { out, save: saves === "none" ? [] : saves === "ab" ? [a!, b!] : [a!, b!, out] };
    },
    backward: ({ saved, inputShapes, needsGrad }, [g]) => {
      const [ga, gb] = grads(g!, saved);
      return [needsGrad[0] ? sumTo(ga, inputShapes[0]!) : null, needsGrad[1] ? sumTo(gb, inputShapes[1]!) : null];
    },
  };
}

export const binaryOps = {
  add: twoSided("add", (g) => [g, g], "none"),
  sub: twoSided("sub", (g) => [g, binaryNeg(g)], "none"),
  mul: twoSided("mul", (g, [a, b]) => [binaryKernel("mul", g, b!), binaryKernel("mul", g, a!)], "ab"),
  div: twoSided(
    "div",
    (g, [a, b]) => {
      const ga = binaryKernel("div", g, b!);
      return [ga, binaryNeg(binaryKernel("div", binaryKernel("mul", ga, a!), b!))];
    },
    "ab",
  ),
  pow: twoSided(
    "pow",
    (g, [a, b, y]) => [
      binaryKernel("mul", g, binaryKernel("mul", b!, binaryKernel("pow", a!, shiftBy(b!, -1)))),
      binaryKernel("mul", g, binaryKernel("mul", y!, log(a!))),
    ],
    "aby",
  ),
  // Ties split the gradient in half, as PyTorch's maximum and minimum do.
  maximum: twoSided("maximum", (g, [a, b]) => [tieMask(g, "gt", a!, b!), tieMask(g, "lt", a!, b!)], "ab"),
  minimum: twoSided("minimum", (g, [a, b]) => [tieMask(g, "lt", a!, b!), tieMask(g, "gt", a!, b!)], "ab"),
} satisfies Record<string, OpDef<void>>;

function binaryNeg(g: Tensor): Tensor {
  return scaleBy(g, -1);
}

function tieMask(g: Tensor, wins: "gt" | "lt", a: Tensor, b: Tensor): Tensor {
  const mask = binaryKernel("add", binaryKernel(wins, a, b), scaleBy(binaryKernel("eq", a, b), 0.5));
  return binaryKernel("mul", g, mask);
}

// Dtypes are checked by the kernel call in the forward rule, after apply() casts them.
function binary(name: keyof typeof binaryOps, a: Tensor, b: Tensor): Tensor {
  return apply1(binaryOps[name] as OpDef<void>, [a, b], undefined);
}

/** a + b (broadcasting); b may be a number. @example add(x, bias) */
export function add(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? shiftBy(a, b) : binary("add", a, b);
}

/** a - b (broadcasting); b may be a number. @example sub(x, mean) */
export function sub(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? shiftBy(a, -b) : binary("sub", a, b);
}

/** a · b element-wise (broadcasting); b may be a number. @example mul(x, 0.5) */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? scaleBy(a, b) : binary("mul", a, b);
}

/** a / b element-wise (broadcasting); b may be a number. @example div(x, std) */
export function div(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? scaleBy(a, 1 / b) : binary("div", a, b);
}

/** a^b element-wise (broadcasting); b may be a number. @example pow(x, 2) */
export function pow(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? powScalar(a, b) : binary("pow", a, b);
}

/** The larger of a and b element-wise (NaN wins). @example maximum(a, b) */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return binary("maximum", a, b);
}

/** The smaller of a and b element-wise (NaN wins). @example minimum(a, b) */
export function minimum(a: Tensor, b: Tensor): Tensor {
  return binary("minimum", a, b);
}

type Comparison = "eq" | "ne" | "lt" | "le" | "gt" | "ge";

function compare(name: Comparison, a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") {
    const scalar = Tensor.empty([], a.dtype);
    kernels.unary(codes.unary.fill!, dt(a.dtype), scalar.data, scalar.data, b);
    const out = binaryKernel(name, a, scalar);
    scalar.dispose();
    return out;
  }
  return binaryKernel(name, a, b);
}

/** 1 where a == b, else 0, in a's dtype (no gradient). @example eq(pred, labels) */
export const eq = (a: Tensor, b: Tensor | number): Tensor => compare("eq", a, b);
/** 1 where a != b, else 0 (no gradient). */
export const ne = (a: Tensor, b: Tensor | number): Tensor => compare("ne", a, b);
/** 1 where a < b, else 0 (no gradient). */
export const lt = (a: Tensor, b: Tensor | number): Tensor => compare("lt", a, b);
/** 1 where a <= b, else 0 (no gradient). */
export const le = (a: Tensor, b: Tensor | number): Tensor => compare("le", a, b);
/** 1 where a > b, else 0 (no gradient). @example gt(x, 0) */
export const gt = (a: Tensor, b: Tensor | number): Tensor => compare("gt", a, b);
/** 1 where a >= b, else 0 (no gradient). */
export const ge = (a: Tensor, b: Tensor | number): Tensor => compare("ge", a, b);
