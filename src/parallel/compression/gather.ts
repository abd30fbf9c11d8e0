import type { DType } from "../../tensor/dtype.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup, Work } from "../process_group.js";

type HostArray = Float32Array | Int32Array;

/** Runs a collective from `local` into a new output of `outputLength` elements, through temporary tensors; returns the output. */
function throughTensors<A extends HostArray>(local: A, outputLength: number, dtype: DType, collective: (output: Tensor, input: Tensor) => Work): A {
  const input = Tensor.empty([local.length], dtype, "gradient"),
    output = Tensor.empty([outputLength], dtype, "gradient");
  try {
    input.toHost().set(local);
    collective(output, input).wait();
    return output.toHost().slice() as A;
  } finally {
    input.dispose();
    output.dispose();
  }
}

/**
 * Every rank's `local` (the same length on each) in rank order, through one all-gather; the
 * input is this rank's sent bytes.
 * @example const all = gatherArrays(group, new Int32Array([1, 2]), "int32"); // length 2 × ranks
 */
export function gatherArrays<A extends HostArray>(group: ProcessGroup, local: A, dtype: DType & ("float32" | "int32")): A {
  return throughTensors(local, local.length * group.size, dtype, (output, input) => group.allGather(output, input));
}

/**
 * An all-to-all of equal blocks: block r of `local` goes to rank r; returns the blocks every
 * rank sent to this one, in rank order (the same length as `local`).
 * @example const mine = exchangeBlocks(group, new Int32Array([toRank0, toRank1]), "int32");
 */
export function exchangeBlocks<A extends HostArray>(group: ProcessGroup, local: A, dtype: DType & ("float32" | "int32")): A {
  return throughTensors(local, local.length, dtype, (output, input) => group.allToAll(output, input));
}
