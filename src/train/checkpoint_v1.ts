import { join } from "node:path";

import { readerOfStates, type PieceSet, type StateReader } from "../parallel/state.js";
import { decodeSafetensors } from "../tensor/safetensors.js";
import type { Tensor } from "../tensor/tensor.js";
import { type CheckpointMeta, type Fail, MANIFEST, readListed, sha256 } from "./checkpoint_files.js";

/**
 * Reading version 1 checkpoints (one process or DDP's rank 0 wrote everything whole):
 * model.safetensors, optimizer.safetensors with tensors `state.<index>.<name>` (the parameter's
 * index in the optimizer), meta.json with a SHA-256 per tensor. They read back as a StateReader
 * whose optimizer keys are those indices, which the strategies match by position.
 */

function digest(t: Tensor): string {
  const d = t.data;
  return sha256(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
}

/** The state of a verified version 1 checkpoint, every tensor whole, and how to free it. */
export function readV1(dir: string, listed: Map<string, string>, meta: CheckpointMeta, fail: Fail): { reader: StateReader; close: () => void } {
  if (!meta.checksums || typeof meta.checksums !== "object") fail("meta.json has no checksums");
  const held: Tensor[] = [];
  const close = () => {
    for (const t of held) t.dispose();
  };
  const checksums = meta.checksums!;
  const read = (file: string): Record<string, Tensor> => {
    const expected = checksums[file];
    if (!expected) fail(`meta.json lists no checksums for ${file}`);
    const { bytes, intact } = readListed(dir, listed, file, fail);
    let tensors: Record<string, Tensor>;
    try {
      tensors = decodeSafetensors(bytes, join(dir, file)).tensors;
    } catch (error) {
      return fail((error as Error).message);
    }
    held.push(...Object.values(tensors));
    const names = new Set([...Object.keys(expected!), ...Object.keys(tensors)]);
    for (const name of names) {
      const t = tensors[name];
      if (!t || expected![name] === undefined) fail(`${file}: tensor '${name}' is in ${t ? "the file" : "meta.json"} only`);
      if (digest(t!) !== expected![name]) fail(`${file}: tensor '${name}' fails its checksum (the file is corrupt)`);
    }
    // The tensors' bytes verified, what remains (header, metadata, padding) is checked whole.
    if (!intact) fail(`${file} fails its checksum in ${MANIFEST} (its header was edited or is corrupt)`);
    return tensors;
  };
  const whole = (tensors: Record<string, Tensor>): PieceSet =>
    Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, { shape: t.shape, start: 0, data: t }]));
  try {
    const model = whole(read("model.safetensors"));
    const optimizer: PieceSet = {};
    if (meta.optimizer) {
      for (const [key, piece] of Object.entries(whole(read("optimizer.safetensors")))) {
        const [, index, name] = key.split(".") as [string, string, string];
        if (meta.optimizer.steps[index] === undefined) fail(`optimizer.safetensors: '${key}' belongs to no parameter with a step count`);
        optimizer[`${index}.${name}`] = piece;
      }
    }
    const reader = readerOfStates([{ model, optimizer, steps: meta.optimizer?.steps ?? {}, paramGroups: meta.optimizer?.paramGroups ?? [], layout: "single" }]);
    return { reader, close };
  } catch (error) {
    close();
    throw error;
  }
}
