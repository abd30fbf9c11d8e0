import type { DType } from "../../tensor/dtype.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";

/**
 * Every rank's `local` (the same length on each) in rank order, through one all-gather; the
 * input is this rank's sent bytes.
 * @example const all = gatherArrays(group, new Int32Array([1, 2]), "int32"); // length 2 × ranks
 */
export function gatherArrays<A extends Float32Array | Int32Array>(group: ProcessGroup, local: A, dtype: DType & ("float32" | "int32")): A {
  const input = Tensor.empty([local.length], dtype, "gradient"),
    output = Tensor.empty([local.length * group.size], dtype, "gradient");
  try {
    input.toHost().set(local);
    group.allGather(output, input).wait();
    return output.toHost().slice() as A;
  } finally {
    input.dispose();
    output.dispose();
  }
}
