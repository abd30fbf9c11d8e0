import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import type { OpDef } from "./op.js";
import { anyPacked, releaseSaved, unpackSaved } from "./saved_tensors.js";

/** Where the gradient of an op's input goes: the node that made it, or the leaf itself. */
export interface Edge {
  readonly node: Node | null;
  readonly index: number;
  readonly leaf: Tensor | null;
}

let sequence = 0;

/**
 * One recorded op. Nodes are numbered in the order they ran, so backward can walk them in
 * reverse (a consumer always runs after what it consumes). A node owns handles on the tensors
 * its backward rule needs and gives them back once backward has used them.
 */
export class Node {
  readonly seq = sequence++;
  private savedTensors: Tensor[] | null;
  /** Whether some saved tensor was packed (saved_tensors.ts) and is not unpacked yet. */
  private packed: boolean;

  constructor(
    readonly op: OpDef<any>,
    readonly attrs: unknown,
    /** One per input; null where the input needs no gradient. */
    readonly edges: readonly (Edge | null)[],
    readonly inputShapes: readonly (readonly number[])[],
    readonly inputDtypes: readonly DType[],
    readonly outputShapes: readonly (readonly number[])[],
    readonly outputDtypes: readonly DType[],
    saved: Tensor[],
  ) {
    this.savedTensors = saved;
    this.packed = anyPacked(saved);
  }

  get released(): boolean {
    return this.savedTensors === null;
  }

  get saved(): readonly Tensor[] {
    if (this.savedTensors === null) {
      throw new Error(
        `backward: the graph through '${this.op.name}' was already released (by an earlier backward or the end of ` +
          "its tidy() scope); pass { retainGraph: true } to the first backward to run it twice",
      );
    }
    if (this.packed) {
      this.packed = false;
      unpackSaved(this.savedTensors);
    }
    return this.savedTensors;
  }

  release(): void {
    if (this.savedTensors === null) return;
    for (const t of this.savedTensors) releaseSaved(t);
    this.savedTensors = null;
  }
}
