import assert from "node:assert/strict";
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { AdamW } from "../../src/optim/index.js";
import { lowCopy } from "../../src/tensor/low_copy.js";
import { memory } from "../../src/tensor/memory.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";

/** Two parameter sets with the same values; one is larger than the kernel's one-thread grain. */
function twins(): [Tensor[], Tensor[]] {
  manualSeed(3);
  const shapes = [[5, 6], [70001], [2, 2], [17, 3]];
  const a = shapes.map((s) => randn(s, { requiresGrad: true }));
  const b = a.map((p) => {
    const q = randn(p.shape, { requiresGrad: true });
    q.toHost().set(p.toHost());
    return q;
  });
  return [a, b];
}

/** The same seeded gradients on both sets; parameter 2 has none on odd steps (it is skipped). */
function setGrads(a: Tensor[], b: Tensor[], step: number): void {
  a.forEach((p, i) => {
    if (i === 2 && step % 2 === 1) {
      p.grad = b[i]!.grad = null;
      return;
    }
    const g = randn(p.shape);
    p.grad = g;
    const h = randn(p.shape);
    h.toHost().set(g.toHost());
    b[i]!.grad = h;
  });
}

const bits = (t: Tensor): number[] => Array.from(new Uint32Array(t.toHost().buffer, t.toHost().byteOffset, t.size));

const scratch = (): string => join(mkdtempSync(join(tmpdir(), "turbine-offload-")), "rank0.bin");

interface AdamTwins {
  resident: Tensor[];
  offloaded: Tensor[];
  plain: AdamW;
  disk: AdamW;
}

/** Twin parameter sets with bf16 copies, an AdamW on each (the same hyperparameters) and a scratch path for the second's file. */
function adamTwins(): AdamTwins & { path: string } {
  const [resident, offloaded] = twins();
  for (const p of [...resident, ...offloaded]) lowCopy(p, "bfloat16");
  const options = { lr: 1e-2, betas: [0.9, 0.99] as const, weightDecay: 0.1 };
  return { resident, offloaded, plain: new AdamW(resident, options), disk: new AdamW(offloaded, options), path: scratch() };
}

/** `steps` steps of both optimizers on the same gradients. */
function stepBoth({ resident, offloaded, plain, disk }: AdamTwins, steps: number): void {
  for (let step = 0; step < steps; step++) {
    setGrads(resident, offloaded, step);
    plain.step();
    disk.step();
  }
}

test("AdamW with its moments offloaded to a file equals AdamW in memory bitwise, bf16 copies included", () => {
  // Catches a wrong file offset or a slot reused before its write (each parameter's moments in
  // the other's place), a skipped parameter's moments being overwritten, and a lost step count.
  const { resident, offloaded, plain, disk, path } = adamTwins();
  disk.offloadState(path);
  stepBoth({ resident, offloaded, plain, disk }, 6);
  assert.equal(statSync(path).size, 8 * resident.reduce((n, p) => n + p.size, 0));
  resident.forEach((p, i) => {
    assert.deepEqual(bits(offloaded[i]!), bits(p), `parameter ${i}`);
    assert.deepEqual(Array.from(lowCopy(offloaded[i]!, "bfloat16").toHost()), Array.from(lowCopy(p, "bfloat16").toHost()), `bf16 copy ${i}`);
  });
  const saved = plain.stateDict(),
    read = disk.stateDict();
  for (const [key, s] of Object.entries(saved.state)) {
    const r = read.state[Number(key)]!;
    assert.equal(r.step, s.step);
    for (const name of ["expAvg", "expAvgSq"]) assert.deepEqual(bits(r.tensors[name]!), bits(s.tensors[name]!), `${name} of ${key}`);
  }
  disk.closeOffload();
  assert.equal(existsSync(path), false, "the file is removed");
});

test("an offloaded AdamW holds no optimizer tensors, and a loaded state dict continues bitwise", () => {
  // Catches loadStateDict leaving the moments in memory (or not writing them to the file).
  const [resident, offloaded] = twins();
  const plain = new AdamW(resident, { lr: 1e-2 }),
    twin = new AdamW(offloaded, { lr: 1e-2 });
  setGrads(resident, offloaded, 0);
  plain.step();
  twin.step();
  const before = memory.report().current.optimizer;
  const restarted = new AdamW(offloaded, { lr: 1e-2 });
  restarted.offloadState(scratch());
  restarted.loadStateDict(twin.stateDict());
  assert.equal(memory.report().current.optimizer, before, "the loaded moments live in the file only");
  for (let step = 1; step < 4; step++) {
    setGrads(resident, offloaded, step);
    plain.step();
    restarted.step();
  }
  resident.forEach((p, i) => assert.deepEqual(bits(offloaded[i]!), bits(p), `parameter ${i}`));
  restarted.closeOffload();
});

test("AdamW with master weights offloaded too: the same updates and bf16 copies bitwise, the masters hold no memory until closeOffload gives them back", () => {
  // Catches a master read from or written to the wrong place in its record (the moments' or
  // another parameter's), a bf16 copy not written by the step (forward would compute with stale
  // weights), masters still resident, and values not restored at close.
  const { resident, offloaded, plain, disk, path } = adamTwins();
  const masters = offloaded.slice(0, 2);
  const before = memory.report().total;
  disk.offloadState(path, { masters });
  const masterBytes = 4 * masters.reduce((n, p) => n + p.size, 0);
  assert.equal(before - memory.report().total, masterBytes, "the masters' bytes are freed at once");
  assert.deepEqual(
    offloaded.map((p) => p.isMeta),
    [true, true, false, false],
  );
  stepBoth({ resident, offloaded, plain, disk }, 6);
  assert.equal(statSync(path).size, 8 * resident.reduce((n, p) => n + p.size, 0) + masterBytes);
  resident.forEach((p, i) => {
    const values = disk.offloadedParameter(offloaded[i]!) ?? offloaded[i]!;
    assert.deepEqual(bits(values), bits(p), `parameter ${i}`);
    assert.deepEqual(Array.from(lowCopy(offloaded[i]!, "bfloat16").toHost()), Array.from(lowCopy(p, "bfloat16").toHost()), `bf16 copy ${i}`);
  });
  assert.equal(disk.offloadedParameter(offloaded[2]!), null, "a resident parameter is not read from the file");
  disk.closeOffload();
  assert.equal(existsSync(path), false, "the file is removed");
  resident.forEach((p, i) => assert.deepEqual(bits(offloaded[i]!), bits(p), `parameter ${i} after closeOffload`));
});

test("an offloaded AdamW's paramState reads the moments from the file and setParamState writes them there: a checkpoint's path continues bitwise", () => {
  // Catches a checkpoint of offloaded moments that saves none (paramState gave no tensors, so a
  // resumed run restarts Adam from zeros) and loaded moments left in memory, not in the file.
  const [resident, offloaded] = twins();
  const plain = new AdamW(resident, { lr: 1e-2 }),
    disk = new AdamW(offloaded, { lr: 1e-2 });
  disk.offloadState(scratch());
  for (let step = 0; step < 2; step++) {
    setGrads(resident, offloaded, step);
    plain.step();
    disk.step();
  }
  const [, fresh] = twins();
  fresh.forEach((p, i) => p.toHost().set(offloaded[i]!.toHost()));
  const restarted = new AdamW(fresh, { lr: 1e-2 });
  restarted.offloadState(scratch());
  const before = memory.report().current.optimizer;
  offloaded.forEach((p, i) => restarted.setParamState(fresh[i]!, disk.paramState(p)!, `parameter ${i}`));
  assert.equal(memory.report().current.optimizer, before, "the loaded moments live in the file only");
  for (let step = 2; step < 5; step++) {
    setGrads(resident, fresh, step);
    plain.step();
    restarted.step();
  }
  resident.forEach((p, i) => assert.deepEqual(bits(fresh[i]!), bits(p), `parameter ${i}`));
  disk.closeOffload();
  restarted.closeOffload();
});
