import { renameSync, rmSync } from "node:fs";

import { wholeModel } from "../parallel/state.js";
import { saveSafetensors } from "../tensor/safetensors.js";
import { type LoadedCheckpoint, loadCheckpoint, loadLatestCheckpoint } from "./checkpoint.js";

/** What consolidateCheckpoint wrote. */
export interface Consolidated {
  /** The checkpoint read. */
  dir: string;
  step: number;
  writtenBy: LoadedCheckpoint["writtenBy"];
  tensors: number;
  bytes: number;
}

/**
 * Writes the model of a checkpoint, whatever world size and layout wrote it, as one plain
 * safetensors file (every tensor whole, by its stateDict name) that PyTorch and Hugging Face
 * read. `path` is one checkpoint (read exactly: a corrupt one is a CheckpointError naming its
 * file) or a run folder or its checkpoints/ folder (the newest valid checkpoint, the ones
 * refused reported through `warn`). The output is written to a temporary name and renamed.
 *
 * @example consolidateCheckpoint("runs/gpt/version_0/checkpoints/step-00001500", "gpt.safetensors", console.warn);
 */
export function consolidateCheckpoint(path: string, out: string, warn: (line: string) => void, single: boolean): Consolidated {
  const checkpoint = single ? loadCheckpoint(path) : loadLatestCheckpoint(path, warn);
  try {
    const tensors = wholeModel(checkpoint.reader);
    const values = Object.values(tensors);
    const bytes = values.reduce((n, t) => n + t.data.byteLength, 0);
    const temp = `${out}.tmp-${process.pid}`;
    try {
      saveSafetensors(temp, tensors, { format: "pt", "turbine.step": String(checkpoint.meta.step) });
      renameSync(temp, out);
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    } finally {
      for (const t of values) t.dispose();
    }
    return { dir: checkpoint.dir, step: checkpoint.meta.step, writtenBy: checkpoint.writtenBy, tensors: values.length, bytes };
  } finally {
    checkpoint.close();
  }
}
