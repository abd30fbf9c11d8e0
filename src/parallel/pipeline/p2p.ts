import { DTYPES, type DType } from "../../tensor/dtype.js";
import { fromTypedArray } from "../../tensor/create.js";
import { formatShape } from "../../tensor/shape.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";

/** Header words: dtype index, rank, then up to 6 dimensions. */
const HEADER = 8;
const DTYPE_NAMES = Object.keys(DTYPES) as DType[];

/** What a header announces: the dtype and shape of the tensors that follow it. */
interface Layout {
  dtype: DType;
  shape: number[];
}

function sendHeader(group: ProcessGroup, tensor: Tensor, peer: number, tag: number): void {
  if (tensor.ndim > HEADER - 2) throw new RangeError(`pipeline: cannot pass a tensor of ${tensor.ndim} dimensions (at most ${HEADER - 2})`);
  const header = new Int32Array(HEADER);
  header.set([DTYPE_NAMES.indexOf(tensor.dtype), tensor.ndim, ...tensor.shape]);
  const headerTensor = fromTypedArray(header, [HEADER], "int32", "other");
  try {
    group.send(headerTensor, peer, tag).wait();
  } finally {
    headerTensor.dispose();
  }
}

function recvHeader(group: ProcessGroup, peer: number, tag: number): Layout {
  const header = Tensor.empty([HEADER], "int32", "other");
  try {
    group.recv(header, peer, tag).wait();
    const words = header.toHost() as Int32Array;
    return { dtype: DTYPE_NAMES[words[0]!]!, shape: [...words.subarray(2, 2 + words[1]!)] };
  } finally {
    header.dispose();
  }
}

function recvData(group: ProcessGroup, layout: Layout, peer: number, tag: number): Tensor {
  const out = Tensor.empty(layout.shape, layout.dtype, "activation");
  group.recv(out, peer, tag).wait();
  return out;
}

/**
 * Sends a tensor of any shape and dtype to `peer`: a small header first (dtype and shape), so
 * the receiver allocates what comes without knowing it in advance, then the data. Each part is
 * a blocking send bounded by the group's timeout.
 * @example sendTensor(pipelineGroup, activation, next, tag);
 */
export function sendTensor(group: ProcessGroup, tensor: Tensor, peer: number, tag: number): void {
  sendHeader(group, tensor, peer, tag);
  group.send(tensor, peer, tag).wait();
}

/**
 * Receives what sendTensor sent from `peer`, as a new activation tensor.
 * @example const input = recvTensor(pipelineGroup, previous, tag);
 */
export function recvTensor(group: ProcessGroup, peer: number, tag: number): Tensor {
  return recvData(group, recvHeader(group, peer, tag), peer, tag);
}

/**
 * The links (peer and tag) of one pipeline step. Every tensor of a micro-batch of the same rows
 * on a link has the same dtype and shape, so only a link's first tensor of each row count is
 * preceded by its header, later ones are one message each (a batch cut unevenly has two row
 * counts, sent in order: a header more per link). Both sides know each message's micro-batch
 * rows (every rank cuts the same batch), so they agree on which message carries a header. On
 * the threads backend a lone message is posted without waiting for the receiver (a header and
 * its data are a rendezvous: the data waits until the header is taken), so a stage does not wait
 * at a tick's end for its neighbour to arrive. Both sides make a new StepLinks for each step.
 * @example const links = new StepLinks(group); links.send(activation, next, tag, rows); const input = links.recv(previous, tag, rows);
 */
export class StepLinks {
  private readonly sent = new Map<string, Layout & { rows: number }>();
  private readonly received = new Map<string, Layout & { rows: number }>();

  constructor(private readonly group: ProcessGroup) {}

  /** Sends `tensor` of a micro-batch of `rows` rows: with its header where the link's last tensor had other rows (or none). */
  send(tensor: Tensor, peer: number, tag: number, rows: number): void {
    const link = `${peer}:${tag}`,
      announced = this.sent.get(link);
    if (announced?.rows !== rows) {
      sendHeader(this.group, tensor, peer, tag);
      this.sent.set(link, { dtype: tensor.dtype, shape: [...tensor.shape], rows });
    } else if (announced.dtype !== tensor.dtype || formatShape(announced.shape) !== formatShape(tensor.shape)) {
      throw new RangeError(
        `pipeline: a ${tensor.dtype} tensor of shape ${formatShape(tensor.shape)} on the link to rank ${peer} (tag ${tag}) after ${announced.dtype} ${formatShape(announced.shape)} for a micro-batch of the same ${rows} rows in the same step`,
      );
    }
    this.group.send(tensor, peer, tag).wait();
  }

  /** Receives the tensor of a micro-batch of `rows` rows that `peer` sent: its header first where the link's last tensor had other rows (or none). */
  recv(peer: number, tag: number, rows: number): Tensor {
    const link = `${peer}:${tag}`;
    let layout = this.received.get(link);
    if (layout?.rows !== rows) {
      layout = { ...recvHeader(this.group, peer, tag), rows };
      this.received.set(link, layout);
    }
    return recvData(this.group, layout, peer, tag);
  }
}
