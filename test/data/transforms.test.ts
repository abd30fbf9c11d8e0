import assert from "node:assert/strict";
import { test } from "node:test";

import { BatchMaker } from "../../src/data/batch_maker.js";
import { labelledLayout } from "../../src/data/layout.js";
import { Rng } from "../../src/data/random.js";
import { buildTransform, type TransformSpec } from "../../src/data/transforms/compose.js";
import type { ImageSample } from "../../src/data/transforms/image.js";
import { NumberedImages } from "../helpers/numbered_images.js";

/** An image [C, H, W] whose value at (c, i, j) is 100c + 10i + j (+1, so no value is 0). */
function grid(c: number, h: number, w: number): ImageSample {
  return {
    image: Float32Array.from({ length: c * h * w }, (_, k) => 100 * Math.floor(k / (h * w)) + 10 * Math.floor((k % (h * w)) / w) + (k % w) + 1),
    label: 7,
  };
}

function apply(spec: TransformSpec | TransformSpec[], sample: ImageSample, shape: number[], position = 0, seed = 0): ImageSample {
  return buildTransform(spec, shape).apply(sample, { rng: Rng.forSample(seed, 0, position), shape });
}

test("normalize subtracts each channel's mean and divides by its std", () => {
  const out = apply({ kind: "normalize", mean: [1, 101], std: [2, 4] }, grid(2, 1, 2), [2, 1, 2]);
  assert.deepEqual(Array.from(out.image), [0, 0.5, 0, 0.25]);
  assert.equal(out.label, 7, "other fields pass through");
  assert.deepEqual(Array.from(apply({ kind: "normalize", mean: 1, std: 0.5 }, grid(1, 1, 3), [1, 3]).image), [0, 2, 4]);
  assert.throws(
    () => buildTransform({ kind: "normalize", mean: [0], std: [1, 1] }, [2, 2, 2]),
    /normalize: mean must be a number or 2 of them \(one per channel\), got \[0\]/,
  );
  assert.throws(() => buildTransform({ kind: "normalize", mean: 0, std: 0 }, [1, 2, 2]), /normalize: std must be a positive number/);
});

test("random crop pads with the fill value and places the window uniformly over every position", () => {
  const shape = [2, 3, 4];
  const src = grid(2, 3, 4);
  const corners = new Set<string>();
  for (let position = 0; position < 400; position++) {
    const out = apply({ kind: "randomCrop", padding: 1, fill: -5 }, src, shape, position).image;
    assert.equal(out.length, 24, "the output keeps the input's size");
    // Find the window offset from a pixel of the image that must be inside: value 10i+j+1 at (i, j).
    const inside = Array.from(out.subarray(0, 12)).findIndex((v) => v > 0);
    const v = out[inside]!;
    const dy = Math.floor((v - 1) / 10) - Math.floor(inside / 4),
      dx = ((v - 1) % 10) - (inside % 4);
    corners.add(`${dy},${dx}`);
    for (let c = 0; c < 2; c++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 4; j++) {
          const si = i + dy,
            sj = j + dx;
          const expected = si >= 0 && si < 3 && sj >= 0 && sj < 4 ? 100 * c + 10 * si + sj + 1 : -5;
          assert.equal(out[(c * 3 + i) * 4 + j], expected, `position ${position} offset (${dy}, ${dx}) at (${c}, ${i}, ${j})`);
        }
      }
    }
  }
  assert.deepEqual([...corners].sort(), ["-1,-1", "-1,0", "-1,1", "0,-1", "0,0", "0,1", "1,-1", "1,0", "1,1"], "all 9 offsets in [-1, 1]², no others");
  assert.deepEqual(Array.from(apply({ kind: "randomCrop" }, src, shape).image), Array.from(src.image), "no padding, full size: the identity");
});

test("random crop to a smaller size changes the shape that follows", () => {
  const t = buildTransform(
    [
      { kind: "randomCrop", size: [2, 3] },
      { kind: "randomHorizontalFlip", p: 1 },
    ],
    [1, 3, 4],
  );
  assert.deepEqual(t.shape, [1, 2, 3]);
  const out = t.apply(grid(1, 3, 4), { rng: Rng.forSample(0, 0, 0), shape: [1, 3, 4] }).image;
  assert.equal(out.length, 6);
  assert.ok(out[0]! > out[2]!, "flipped rows of the crop");
  assert.throws(
    () => buildTransform({ kind: "randomCrop", size: 7, padding: 1 }, [1, 4, 4]),
    /randomCrop: size 7 must be positive integers no larger than the padded image 6×6/,
  );
  assert.throws(() => buildTransform({ kind: "randomCrop", padding: -1 }, [1, 4, 4]), /randomCrop: padding must be a non-negative integer, got -1/);
  assert.throws(() => buildTransform({ kind: "randomCrop" }, [16]), /randomCrop: samples must be images of shape \[C, H, W\] or \[H, W\], got \[16\]/);
});

test("horizontal flip mirrors every row with probability p and never writes into its input", () => {
  const src = grid(2, 2, 3);
  const copy = Float32Array.from(src.image);
  const flipped = apply({ kind: "randomHorizontalFlip", p: 1 }, src, [2, 2, 3]).image;
  assert.deepEqual(Array.from(flipped), [3, 2, 1, 13, 12, 11, 103, 102, 101, 113, 112, 111]);
  assert.deepEqual(src.image, copy);
  assert.equal(apply({ kind: "randomHorizontalFlip", p: 0 }, src, [2, 2, 3]).image, src.image);
  let count = 0;
  for (let position = 0; position < 1000; position++) count += apply({ kind: "randomHorizontalFlip" }, src, [2, 2, 3], position).image === src.image ? 0 : 1;
  assert.ok(count > 440 && count < 560, `p = 0.5 flipped ${count} of 1000`);
  assert.throws(() => buildTransform({ kind: "randomHorizontalFlip", p: 2 }, [1, 2, 2]), /randomHorizontalFlip: p must be a probability in \[0, 1\], got 2/);
});

test("random erasing sets one in-bounds rectangle of a scale-bounded area in every channel", () => {
  const [h, w] = [20, 30];
  const src = grid(2, h, w);
  const copy = Float32Array.from(src.image);
  let erased = 0;
  for (let position = 0; position < 200; position++) {
    const out = apply({ kind: "randomErasing", p: 1, scale: [0.05, 0.2], value: -9 }, src, [2, h, w], position).image;
    if (out === src.image) continue; // 10 draws that did not fit: torchvision leaves the image too
    erased++;
    const hit: [number, number][] = [];
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) if (out[i * w + j] === -9) hit.push([i, j]);
    const rows = hit.map(([i]) => i),
      cols = hit.map(([, j]) => j);
    const [top, bottom, left, right] = [Math.min(...rows), Math.max(...rows), Math.min(...cols), Math.max(...cols)];
    const area = (bottom - top + 1) * (right - left + 1);
    assert.equal(hit.length, area, "a filled rectangle");
    assert.ok(area >= 0.05 * h * w * 0.7 && area <= 0.2 * h * w * 1.3, `area ${area} outside the scale (allowing rounding)`);
    for (let k = 0; k < h * w; k++) {
      const i = Math.floor(k / w),
        j = k % w;
      const inRect = i >= top && i <= bottom && j >= left && j <= right;
      assert.equal(out[k], inRect ? -9 : src.image[k]);
      assert.equal(out[h * w + k], inRect ? -9 : src.image[h * w + k], "the same rectangle in channel 1");
    }
  }
  assert.ok(erased > 190, `${erased} of 200 erased`);
  assert.deepEqual(src.image, copy, "the input is untouched");
  assert.equal(apply({ kind: "randomErasing", p: 0 }, src, [2, h, w]).image, src.image);
  assert.throws(
    () => buildTransform({ kind: "randomErasing", scale: [0.5, 0.1] }, [1, 4, 4]),
    /randomErasing: scale must be \[low, high\] with low ≤ high, both > 0, got \[0.5,0.1\]/,
  );
});

test("a composed transform is a function of (seed, epoch, position) only", () => {
  const spec: TransformSpec[] = [{ kind: "randomCrop", padding: 2 }, { kind: "randomHorizontalFlip" }, { kind: "randomErasing" }];
  const src = grid(1, 8, 8);
  const at = (seed: number, epoch: number, position: number) =>
    Array.from(buildTransform(spec, [1, 8, 8]).apply(src, { rng: Rng.forSample(seed, epoch, position), shape: [1, 8, 8] }).image);
  assert.deepEqual(at(1, 2, 3), at(1, 2, 3));
  const variants = [at(1, 2, 3), at(2, 2, 3), at(1, 3, 3), at(1, 2, 4)].map((v) => v.join());
  assert.equal(new Set(variants).size, 4, "seed, epoch and position each change the draw");
  assert.throws(
    () => buildTransform({ kind: "rotate" } as never, [1, 8, 8]),
    /transform: unknown kind "rotate", expected one of normalize, randomCrop, randomHorizontalFlip, randomErasing/,
  );
});

test("a batch filled through scratch memory equals the samples transformed one by one into fresh memory", () => {
  // Every kind, with a flip that may pass its input through, so consecutive steps must alternate buffers.
  const spec: TransformSpec[] = [
    { kind: "randomCrop", padding: 2, fill: -1 },
    { kind: "randomHorizontalFlip" },
    { kind: "randomErasing", p: 0.7, value: -2 },
    { kind: "normalize", mean: 0.5, std: 2 },
    { kind: "randomHorizontalFlip" },
  ];
  const data = new NumberedImages({ length: 64, shape: [2, 6, 7] });
  const maker = new BatchMaker(data, spec, 5);
  const job = { epoch: 1, batch: 0, first: 0, indices: Int32Array.from({ length: 64 }, (_, k) => (k * 13) % 64) };
  const layout = labelledLayout(maker.sampleShape!);
  const x = new Float32Array(64 * 2 * 6 * 7),
    y = new Int32Array(64);
  maker.fill(layout, job, x, y);
  const samples = maker.samples(job).map((s) => Array.from(s.image));
  assert.deepEqual(Array.from(x), samples.flat());
  const padded = samples.filter((image) => image.includes((-1 - 0.5) / 2)).length;
  assert.ok(padded > 0 && padded < samples.length, `the crop padded some samples (${padded}) and left others inside`);
});
