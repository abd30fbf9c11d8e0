import { fillWith } from "../tensor/create.js";
import { type Generator, normal_, uniform_ } from "../tensor/random.js";
import { formatShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * Weight initialisation schemes with PyTorch's definitions (torch.nn.init). Each fills a
 * tensor in place from a generator (the thread's default unless given).
 *
 * @example
 * init.xavierUniform(layer.weight);
 * init.kaimingNormal(conv.weight, { nonlinearity: "relu" });
 */

export type Nonlinearity = "linear" | "conv2d" | "sigmoid" | "tanh" | "relu" | "leaky_relu";

/** PyTorch's calculate_gain. */
export function calculateGain(nonlinearity: Nonlinearity, negativeSlope = 0.01): number {
  switch (nonlinearity) {
    case "linear":
    case "conv2d":
    case "sigmoid":
      return 1;
    case "tanh":
      return 5 / 3;
    case "relu":
      return Math.SQRT2;
    case "leaky_relu":
      return Math.sqrt(2 / (1 + negativeSlope ** 2));
  }
}

/** Fan-in and fan-out of a weight [out, in, ...receptive field]. */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) throw new RangeError(`init: fan-in and fan-out need a weight of rank ≥ 2, got ${formatShape(t.shape)}`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

export interface KaimingOptions {
  /** The negative slope of leaky_relu (PyTorch's `a`). */
  a?: number;
  mode?: "fanIn" | "fanOut";
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

export const init = {
  uniform: (t: Tensor, low = 0, high = 1, generator?: Generator): Tensor => uniform_(t, low, high, generator),
  normal: (t: Tensor, mean = 0, std = 1, generator?: Generator): Tensor => normal_(t, mean, std, generator),
  zeros: (t: Tensor): Tensor => fillWith(t, 0),
  ones: (t: Tensor): Tensor => fillWith(t, 1),
  constant: (t: Tensor, value: number): Tensor => fillWith(t, value),
  xavierUniform(t: Tensor, gain = 1, generator?: Generator): Tensor {
    const { fanIn, fanOut } = fans(t);
    const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
    return uniform_(t, -bound, bound, generator);
  },
  xavierNormal(t: Tensor, gain = 1, generator?: Generator): Tensor {
    const { fanIn, fanOut } = fans(t);
    return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), generator);
  },
  kaimingUniform(t: Tensor, o: KaimingOptions = {}): Tensor {
    const bound = Math.sqrt(3) * kaimingStd(t, o);
    return uniform_(t, -bound, bound, o.generator);
  },
  kaimingNormal(t: Tensor, o: KaimingOptions = {}): Tensor {
    return normal_(t, 0, kaimingStd(t, o), o.generator);
  },
};

function kaimingStd(t: Tensor, o: KaimingOptions): number {
  const { fanIn, fanOut } = fans(t);
  const fan = (o.mode ?? "fanIn") === "fanIn" ? fanIn : fanOut;
  return calculateGain(o.nonlinearity ?? "leaky_relu", o.a ?? 0) / Math.sqrt(fan);
}

/** The schemes a layer's weight may be given by name (in configs too). */
export type WeightInit = "default" | "xavierUniform" | "xavierNormal" | "kaimingUniform" | "kaimingNormal" | "normal" | "zeros" | "ones";

export const WEIGHT_INITS: readonly WeightInit[] = ["default", "xavierUniform", "xavierNormal", "kaimingUniform", "kaimingNormal", "normal", "zeros", "ones"];

/**
 * Initialises a Linear or Conv2d weight and bias. "default" is PyTorch's reset_parameters:
 * kaiming-uniform with a = √5 (bound 1/√fanIn) and a bias uniform in ±1/√fanIn. The other
 * schemes zero the bias; "normal" draws N(0, 0.02²) as GPT-2 does.
 */
export function initWeightAndBias(weight: Tensor, bias: Tensor | null, scheme: WeightInit, generator?: Generator): void {
  const { fanIn } = fans(weight);
  switch (scheme) {
    case "default": {
      init.kaimingUniform(weight, { a: Math.sqrt(5), generator });
      if (bias) {
        const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
        uniform_(bias, -bound, bound, generator);
      }
      return;
    }
    case "xavierUniform":
      init.xavierUniform(weight, 1, generator);
      break;
    case "xavierNormal":
      init.xavierNormal(weight, 1, generator);
      break;
    case "kaimingUniform":
      init.kaimingUniform(weight, { nonlinearity: "relu", generator });
      break;
    case "kaimingNormal":
      init.kaimingNormal(weight, { nonlinearity: "relu", generator });
      break;
    case "normal":
      normal_(weight, 0, 0.02, generator);
      break;
    case "zeros":
      fillWith(weight, 0);
      break;
    case "ones":
      fillWith(weight, 1);
      break;
    default:
      throw new RangeError(`init: unknown scheme ${JSON.stringify(scheme)}; expected one of ${WEIGHT_INITS.join(", ")}`);
  }
  if (bias) fillWith(bias, 0);
}
