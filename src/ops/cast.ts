import { apply1, type OpDef } from "../autograd/op.js";
import { checkDType, DTYPES, isFloating, type DType } from "../tensor/dtype.js";
import { kernels } from "../backends/index.js";
import { Tensor } from "../tensor/tensor.js";

/** Conversion between dtypes, as an autograd op. */

/** x in `dtype`: a view when it already is, else a rounded copy (int32 goes through float32). */
function castKernel(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x.viewAs(x.shape);
  const out = Tensor.empty(x.shape, dtype);
  if (x.dtype === "int32" && dtype !== "float32") {
    // The kernel converts int32 only to float32; PyTorch also rounds int → float → bf16/f16.
    const wide = castKernel(x, "float32");
    kernels.cast(DTYPES.float32.code, wide.data, DTYPES[dtype].code, out.data);
    wide.dispose();
  } else {
    kernels.cast(DTYPES[x.dtype].code, x.data, DTYPES[dtype].code, out.data);
  }
  return out;
}

// Between floats the gradient is cast back to the input's dtype; int32 carries no gradient.
export const floatCastOp: OpDef<DType> = {
  name: "cast",
  forward: ([x], dtype) => ({ out: castKernel(x!, dtype) }),
  backward: ({ inputDtypes }, [g]) => [castKernel(g!, inputDtypes[0]!)],
};

export const intCastOp: OpDef<DType> = {
  name: "cast",
  forward: ([x], dtype) => ({ out: castKernel(x!, dtype) }),
};

/**
 * x converted to `dtype`, rounding to nearest even between floats; float to int32 truncates
 * toward zero (NaN gives 0, out-of-range values saturate). Differentiable between float dtypes.
 * @example cast(x, "bfloat16")
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  const to = checkDType(dtype, "cast");
  const differentiable = isFloating(x.dtype) && isFloating(to);
  return apply1(differentiable ? floatCastOp : intCastOp, [x], to);
}
