import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { add, mul } from "./binary.js";
import { cast } from "./cast.js";
import { transpose } from "./layout.js";
import { matmul } from "./matmul.js";
import { sumOfSquares } from "./optimizer_kernels.js";

/** The quintic's coefficients in Keller Jordan's Muon: steep at 0, so singular values near 0 grow fast. */
const A = 3.4445,
  B = -4.775,
  C = 2.0315;

/**
 * An approximately orthogonal matrix with g's singular vectors (U·Vᵀ of its SVD, the singular
 * values pushed into about [0.7, 1.2]) by `steps` iterations of the quintic Newton–Schulz map
 * X ← aX + (bA + cA²)X with A = XXᵀ, from X = g/‖g‖_F; run on the wide orientation so A is the
 * smaller Gram matrix, as the reference does. g is 2-D and float32; a new float32 tensor is
 * returned. With dtype "bfloat16" the iterations run in bf16 after the f32 normalisation (the
 * reference always iterates in bf16; the map is self-correcting, so its rounding stays at bf16's
 * 3 significant digits instead of compounding).
 *
 * @example
 * const o = newtonSchulz5(momentum2d, 5);   // Muon's update direction
 * const fast = newtonSchulz5(momentum2d, 5, "bfloat16");   // under bf16 autocast
 */
export function newtonSchulz5(g: Tensor, steps = 5, dtype: "float32" | "bfloat16" = "float32"): Tensor {
  if (g.ndim !== 2) throw new RangeError(`newtonSchulz5: needs a matrix, got shape [${g.shape.join(", ")}]`);
  const tall = g.shape[0]! > g.shape[1]!;
  return tidy(() => {
    let x = tall ? transpose(g, 0, 1) : g;
    x = mul(x, 1 / (Math.sqrt(sumOfSquares(x)) + 1e-7));
    if (dtype === "bfloat16") x = cast(x, "bfloat16");
    for (let i = 0; i < steps; i++) {
      const gram = matmul(x, transpose(x, 0, 1));
      const poly = add(mul(gram, B), mul(matmul(gram, gram), C));
      x = add(mul(x, A), matmul(poly, x));
    }
    if (dtype === "bfloat16") x = cast(x, "float32");
    return tall ? transpose(x, 0, 1) : x;
  });
}
