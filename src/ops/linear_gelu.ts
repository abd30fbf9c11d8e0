import { apply1, type OpDef } from "../autograd/op.js";
import { kernels } from "../backends/index.js";
import { Tensor } from "../tensor/tensor.js";
import { release } from "../tensor/scope.js";
import { gemmBackward, gemmMeta, type LinearAttrs, type LinearCallOptions, linearGemm, linearOp, linearShape, viewAs, withLinearOperands } from "./matmul.js";
import { paddedOperands } from "./padded_operands.js";
import { gelu } from "./unary.js";
import { dt, requireSameDType } from "./util.js";

/**
 * Linear + bias + GELU (erf) as one op: forward is one kernel call (the product, into the
 * pre-activation backward needs when a gradient is recorded, then one GELU pass: the same bits
 * either way), and backward folds GELU's derivative and the bias gradient into one pass over the
 * output gradient before the two products of linear's backward.
 */

export const linearGeluOp: OpDef<LinearAttrs> = {
  name: "linearGelu",
  forward: ([x, weight, bias], attrs, recording) => {
    const w = attrs.weightCopy ?? weight!;
    requireSameDType("linearGelu", x!, w);
    const shape = [attrs.rows, attrs.outFeatures];
    const out = Tensor.empty(shape, x!.dtype);
    const pre = recording ? Tensor.empty(shape, x!.dtype) : null;
    const b = (bias?.data as Float32Array | undefined) ?? null;
    const g = linearGemm(attrs);
    const pads = paddedOperands(x!, w, g, bias ?? null, x!.dtype, (p) => gemmMeta(g, p));
    kernels.matmulGelu(x!.data, w.data, out.data, b, dt(x!.dtype), dt(x!.dtype), gemmMeta(g, pads), pre?.data ?? null);
    return { out: viewAs(out, attrs.outShape), save: [x!, w], scratch: pre ? [pre] : [] };
  },
  backward: ({ saved: [x, w, pre], attrs, inputShapes, inputDtypes, needsGrad }, [g]) => {
    const { rows, outFeatures } = attrs;
    const dPre = Tensor.empty([rows, outFeatures], pre!.dtype);
    // The bias is float32 whatever the operands' dtype; its gradient is summed in the same pass.
    const dBias = needsGrad[2] ? Tensor.empty([outFeatures], "float32") : null;
    kernels.geluBiasBackward(dt(pre!.dtype), g!.data, pre!.data, dPre.data, (dBias?.data as Float32Array | undefined) ?? null, rows, outFeatures);
    // A float32 weight computed with its copy gets its gradient straight from the product in float32.
    const [dx, dw] = gemmBackward(dPre, x!, w!, linearGemm(attrs), needsGrad[0]!, needsGrad[1]!, inputDtypes[1]!);
    dPre.dispose();
    return [dx?.viewAs(inputShapes[0]!), dw?.viewAs(inputShapes[1]!), dBias];
  },
};

/**
 * gelu(linear(x, weight, bias)) with GELU's erf form (PyTorch's F.gelu default) in one op, as
 * linear takes its operands: x [..., in], weight [out, in], float32 bias [out], and under
 * bfloat16 autocast the weight's persistent bf16 copy with a float32 weight gradient, and
 * linear's options.
 * @example linearGelu(h, mlp.fc.weight, mlp.fc.bias)   // [B, T, 256] -> [B, T, 1024]
 */
export function linearGelu(x: Tensor, weight: Tensor, bias?: Tensor | null, options: LinearCallOptions = {}): Tensor {
  return withLinearOperands("linearGelu", x, weight, (input, weightCopy) => {
    const shape = linearShape("linearGelu", input, weight, bias);
    // An empty product has nothing to fuse (and oneDNN takes no zero extent).
    const inputs = bias ? [input, weight, bias] : [input, weight];
    if (shape.rows === 0 || shape.inFeatures === 0 || shape.outFeatures === 0) {
      const product = apply1(linearOp, inputs, { ...shape, ...options, weightCopy });
      return release(gelu(product), product);
    }
    return apply1(linearGeluOp, inputs, { ...shape, ...options, weightCopy });
  });
}
