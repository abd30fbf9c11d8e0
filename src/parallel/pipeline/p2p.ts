import { DTYPES, type DType } from "../../tensor/dtype.js";
import { fromTypedArray } from "../../tensor/create.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";

/** Header words: dtype index, rank, then up to 6 dimensions. */
const HEADER = 8;
const DTYPE_NAMES = Object.keys(DTYPES) as DType[];

/**
 * Sends a tensor of any shape and dtype to `peer`: a small header first (dtype and shape), so
 * the receiver allocates what comes without knowing it in advance, then the data. Each part is
 * a blocking send bounded by the group's timeout.
 * @example sendTensor(pipelineGroup, activation, next, tag);
 */
export function sendTensor(group: ProcessGroup, tensor: Tensor, peer: number, tag: number): void {
  if (tensor.ndim > HEADER - 2) throw new RangeError(`pipeline: cannot pass a tensor of ${tensor.ndim} dimensions (at most ${HEADER - 2})`);
  const header = new Int32Array(HEADER);
  header.set([DTYPE_NAMES.indexOf(tensor.dtype), tensor.ndim, ...tensor.shape]);
  const headerTensor = fromTypedArray(header, [HEADER], "int32", "other");
  try {
    group.send(headerTensor, peer, tag).wait();
  } finally {
    headerTensor.dispose();
  }
  group.send(tensor, peer, tag).wait();
}

/**
 * Receives what sendTensor sent from `peer`, as a new activation tensor.
 * @example const input = recvTensor(pipelineGroup, previous, tag);
 */
export function recvTensor(group: ProcessGroup, peer: number, tag: number): Tensor {
  const header = Tensor.empty([HEADER], "int32", "other");
  let dtype: DType, shape: number[];
  try {
    group.recv(header, peer, tag).wait();
    const words = header.toHost() as Int32Array;
    dtype = DTYPE_NAMES[words[0]!]!;
    shape = [...words.subarray(2, 2 + words[1]!)];
  } finally {
    header.dispose();
  }
  const out = Tensor.empty(shape, dtype, "activation");
  group.recv(out, peer, tag).wait();
  return out;
}
