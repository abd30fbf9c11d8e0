import { apply1, type OpDef } from "../autograd/op.js";
import { codes, kernels } from "../backends/index.js";
import { Tensor } from "../tensor/tensor.js";
import type { OpName } from "./registry.js";
import { dt, requireFloat } from "./util.js";

/** Element-wise unary ops. Each entry pairs the native forward with its backward rule. */

/** Runs a native unary kernel into a new tensor. */
export function unaryKernel(name: string, x: Tensor, alpha = 0): Tensor {
  const out = Tensor.empty(x.shape, x.dtype);
  kernels.unary(codes.unary[name]!, dt(x.dtype), x.data, out.data, alpha);
  return out;
}

/** Runs a native unary backward kernel: grad times the derivative at the saved value. */
export function unaryGradKernel(name: string, g: Tensor, saved: Tensor, alpha = 0): Tensor {
  const out = Tensor.empty(g.shape, g.dtype);
  kernels.unaryBackward(codes.unaryBackward[name]!, dt(g.dtype), g.data, saved.data, out.data, alpha);
  return out;
}

/**
 * An op whose backward kernel needs the input ("x") or the output ("y"); the kernel code's name
 * differs from the op's only where another op has that name (binary pow).
 */
function nativeUnary(opName: OpName, saves: "x" | "y", name: string = opName): OpDef<number> {
  return {
    name: opName,
    forward: ([x], alpha) => {
      const y = unaryKernel(name, x!, alpha);
      return { out: y, save: [saves === "x" ? x! : y] };
    },
    backward: ({ saved: [s], attrs }, [g]) => [unaryGradKernel(name, g!, s!, attrs)],
  };
}

export const unaryOps = {
  neg: { name: "neg", forward: ([x]) => ({ out: unaryKernel("neg", x!) }), backward: (_, [g]) => [unaryKernel("neg", g!)] },
  exp: nativeUnary("exp", "y"),
  log: nativeUnary("log", "x"),
  sqrt: nativeUnary("sqrt", "y"),
  rsqrt: nativeUnary("rsqrt", "y"),
  tanh: nativeUnary("tanh", "y"),
  sigmoid: nativeUnary("sigmoid", "y"),
  relu: nativeUnary("relu", "y"),
  gelu_tanh: nativeUnary("gelu_tanh", "x"),
  gelu_erf: nativeUnary("gelu_erf", "x"),
  abs: nativeUnary("abs", "x"),
  square: nativeUnary("square", "x"),
  reciprocal: nativeUnary("reciprocal", "y"),
  pow: nativeUnary("powScalar", "x", "pow"),
  clamp_min: nativeUnary("clamp_min", "x"),
  scale: {
    name: "scale",
    forward: ([x], alpha) => ({ out: unaryKernel("scale", x!, alpha) }),
    backward: ({ attrs }, [g]) => [unaryKernel("scale", g!, attrs)],
  },
  shift: {
    name: "shift",
    forward: ([x], alpha) => ({ out: unaryKernel("shift", x!, alpha) }),
    backward: (_, [g]) => [g!],
  },
} satisfies Record<string, OpDef<number>>;

function unary(name: keyof typeof unaryOps, x: Tensor, alpha = 0): Tensor {
  requireFloat(x, name);
  return apply1(unaryOps[name] as OpDef<number>, [x], alpha);
}

/** -x. @example neg(x) */
export const neg = (x: Tensor): Tensor => unary("neg", x);
/** e^x. @example exp(x) */
export const exp = (x: Tensor): Tensor => unary("exp", x);
/** Natural logarithm. @example log(x) */
export const log = (x: Tensor): Tensor => unary("log", x);
/** Square root. @example sqrt(x) */
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
/** 1 / sqrt(x). @example rsqrt(variance) */
export const rsqrt = (x: Tensor): Tensor => unary("rsqrt", x);
/** Hyperbolic tangent. @example tanh(x) */
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
/** 1 / (1 + e^-x). @example sigmoid(x) */
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
/** max(x, 0). @example relu(x) */
export const relu = (x: Tensor): Tensor => unary("relu", x);
/** |x|. @example abs(x) */
export const abs = (x: Tensor): Tensor => unary("abs", x);
/** x². @example square(x) */
export const square = (x: Tensor): Tensor => unary("square", x);
/** 1 / x. @example reciprocal(x) */
export const reciprocal = (x: Tensor): Tensor => unary("reciprocal", x);
/** max(x, floor), element-wise. @example clampMin(x, 1e-12) */
export const clampMin = (x: Tensor, floor: number): Tensor => unary("clamp_min", x, floor);

/**
 * GELU: x·Φ(x) exactly ("none", PyTorch's default) or with the tanh approximation.
 * @example gelu(x, "tanh")
 */
export function gelu(x: Tensor, approximate: "none" | "tanh" = "none"): Tensor {
  if (approximate !== "none" && approximate !== "tanh") {
    throw new RangeError(`gelu: approximate must be "none" or "tanh", got ${JSON.stringify(approximate)}`);
  }
  return unary(approximate === "tanh" ? "gelu_tanh" : "gelu_erf", x);
}

/** Scalar forms used by the binary ops when one operand is a number. */
export const scaleBy = (x: Tensor, factor: number): Tensor => unary("scale", x, factor);
export const shiftBy = (x: Tensor, offset: number): Tensor => unary("shift", x, offset);
export const powScalar = (x: Tensor, exponent: number): Tensor => unary("pow", x, exponent);
