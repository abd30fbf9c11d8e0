import { renameSync, rmSync } from "node:fs";

import { wholeModel } from "../parallel/state.js";
import { saveSafetensors } from "../tensor/safetensors.js";
import { type LoadedCheckpoint, loadCheckpoint, loadLatestCheckpoint } from "./checkpoint.js";
import { modelOfCheckpoint } from "./trained_model.js";

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
 * refused reported through `warn`). When its meta.json holds the run's config, the tensors must
 * be exactly the weights of that model (names and shapes; else a CheckpointError naming the
 * checkpoint), so a consistent but wrong index never becomes a plausible file. The output is
 * written to a temporary name and renamed.
 *
 * @example consolidateCheckpoint("runs/gpt/version_0/checkpoints/step-00001500", "gpt.safetensors", console.warn);
 */
export function consolidateCheckpoint(path: string, out: string, warn: (line: string) => void, single: boolean): Consolidated {
  const checkpoint = single ? loadCheckpoint(path) : loadLatestCheckpoint(path, warn);
  try {
    const tensors = wholeModel(checkpoint.reader);
    const values = Object.values(tensors);
    if (checkpoint.meta.config !== undefined) {
      try {
        const { model } = modelOfCheckpoint(checkpoint, tensors);
        for (const t of new Set(Object.values(model.stateDict()))) t.dispose();
      } catch (error) {
        for (const t of values) t.dispose();
        throw error;
      }
    }
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
