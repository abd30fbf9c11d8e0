import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { tensor } from "../../src/tensor/create.js";
import { decodeSafetensors, encodeSafetensors, loadSafetensors, saveSafetensors } from "../../src/tensor/safetensors.js";
import { fixturesDir } from "../helpers/paths.js";

test("safetensors round-trips every dtype and the metadata", () => {
  const bytes = encodeSafetensors(
    {
      w: tensor([
        [1, 2],
        [3, 4],
      ]),
      h: tensor([1.5, -2], { dtype: "bfloat16" }),
      f: tensor([0.5], { dtype: "float16" }),
      i: tensor([7, -8], { dtype: "int32" }),
      empty: tensor([], { shape: [0, 3] }),
    },
    { step: "12" },
  );
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.equal(metadata.step, "12");
  assert.deepEqual(tensors.w!.toArray(), [1, 2, 3, 4]);
  assert.deepEqual([...tensors.w!.shape], [2, 2]);
  assert.deepEqual(tensors.h!.toArray(), [1.5, -2]);
  assert.equal(tensors.h!.dtype, "bfloat16");
  assert.deepEqual(tensors.f!.toArray(), [0.5]);
  assert.deepEqual(tensors.i!.toArray(), [7, -8]);
  assert.deepEqual([...tensors.empty!.shape], [0, 3]);
});

test("corrupt safetensors files are refused with the file name and the problem", () => {
  const good = encodeSafetensors({ w: tensor([1, 2, 3]) });
  assert.throws(() => decodeSafetensors(good.subarray(0, 4), "m.st"), /m\.st: .*shorter than the 8-byte header/);
  assert.throws(() => decodeSafetensors(good.subarray(0, good.length - 4), "m.st"), /tensor 'w' spans bytes 0\.\.12 of a 8-byte data section/);
  const badJson = Buffer.from(good);
  badJson[9] = 0x7b; // '{' inside the header breaks the JSON
  badJson[10] = 0x7b;
  assert.throws(() => decodeSafetensors(badJson, "m.st"), /header is not JSON/);
  const huge = Buffer.from(good);
  huge.writeBigUInt64LE(1n << 40n, 0);
  assert.throws(() => decodeSafetensors(huge, "m.st"), /header length .* exceeds the file/);
  const header = (h: object): Buffer => {
    const json = Buffer.from(JSON.stringify(h));
    const out = Buffer.alloc(8 + json.length + 8);
    out.writeBigUInt64LE(BigInt(json.length), 0);
    json.copy(out, 8);
    return out;
  };
  assert.throws(
    () => decodeSafetensors(header({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } })),
    /overlap/,
  );
  assert.throws(() => decodeSafetensors(header({ a: { dtype: "C64", shape: [1], data_offsets: [0, 8] } })), /unsupported dtype C64/);
  assert.throws(() => decodeSafetensors(header({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } })), /8 bytes for shape \[3\] of F32/);
  assert.throws(() => loadSafetensors(join(tmpdir(), "does-not-exist.safetensors")), /cannot read safetensors file \(ENOENT\)/);
});

test("PyTorch reads turbine's safetensors and turbine reads PyTorch's", () => {
  const dir = mkdtempSync(join(tmpdir(), "turbine-st-"));
  try {
    const ours = join(dir, "ours.safetensors"),
      theirs = join(dir, "theirs.safetensors");
    saveSafetensors(
      ours,
      {
        "fc.weight": tensor([
          [1, 2, 3],
          [4, 5, 6],
        ]),
        ids: tensor([3, 1], { dtype: "int32" }),
      },
      { format: "pt" },
    );
    const script = [
      "import sys, torch",
      `sys.path.insert(0, ${JSON.stringify(fixturesDir())})`,
      "import safetensors_io as st",
      "t, m = st.load(sys.argv[1])",
      "assert m['format'] == 'pt', m",
      "assert torch.equal(t['fc.weight'], torch.tensor([[1., 2, 3], [4, 5, 6]])), t",
      "assert t['ids'].tolist() == [3, 1]",
      "st.save(sys.argv[2], {'doubled': t['fc.weight'] * 2, 'half': torch.tensor([0.25]).bfloat16(),",
      "                      'count': torch.tensor([9], dtype=torch.int64)})",
    ].join("\n");
    execFileSync("/usr/bin/python3", ["-c", script, ours, theirs], { stdio: "pipe" });
    const { tensors } = loadSafetensors(theirs);
    assert.deepEqual(tensors.doubled!.toArray(), [2, 4, 6, 8, 10, 12]);
    assert.deepEqual(tensors.half!.toArray(), [0.25]);
    assert.equal(tensors.count!.dtype, "int32", "PyTorch's int64 arrives as int32");
    assert.deepEqual(tensors.count!.toArray(), [9]);
    writeFileSync(join(dir, "bad.safetensors"), readFileSync(theirs).subarray(0, 20));
    assert.throws(() => loadSafetensors(join(dir, "bad.safetensors")), /bad\.safetensors: not a valid safetensors file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
