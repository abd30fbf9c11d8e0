import { noGrad } from "../../autograd/grad_mode.js";
import { apply1, type OpDef } from "../../autograd/op.js";
import { formatShape } from "../../tensor/shape.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";

/** x's rows cut into group.size equal blocks, block d sent to rank d; block s of the result came from rank s. */
function exchanged(x: Tensor, group: ProcessGroup): Tensor {
  return noGrad(() => {
    const out = Tensor.empty(x.shape, x.dtype);
    group.allToAll(out, x);
    return out;
  });
}

const allToAllOp: OpDef<{ group: ProcessGroup }> = {
  name: "allToAllRegion",
  forward: ([x], { group }) => ({ out: exchanged(x!, group) }),
  // The exchange is its own inverse: the gradient of block s here goes back to rank s, where it
  // is the gradient of that rank's block for this rank.
  backward: ({ attrs }, [g]) => [exchanged(g!, attrs.group)],
};

/**
 * An all-to-all as a differentiable op (expert parallelism's dispatch and combine): x's first
 * axis is cut into one equal block per rank, block d goes to rank d, and the result's block s is
 * what rank s sent here. Backward sends the gradients back the same way.
 * @example const atOwners = allToAllRegion(dispatched, expertGroup);   // [ranks · rows, width]
 */
export function allToAllRegion(x: Tensor, group: ProcessGroup): Tensor {
  if (x.ndim === 0 || x.shape[0]! % group.size !== 0) {
    throw new RangeError(`allToAllRegion: the first axis of ${formatShape(x.shape)} does not split into ${group.size} equal blocks (one per rank)`);
  }
  return apply1(allToAllOp, [x], { group });
}
