import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

/**
 * Writes a small Fashion-MNIST folder (the four IDX .gz files) that a model can learn in a few
 * steps: image i of class i % 10 has a bright band at rows 2c to 2c + 3, over seeded noise. Real
 * training on it takes milliseconds a step, so a search test trains for real.
 * @example const root = writeTinyFashion(join(tmp, "fashion"), { train: 512, test: 200 });
 */
export function writeTinyFashion(root: string, counts: { train: number; test: number }): string {
  mkdirSync(root, { recursive: true });
  let state = 12345;
  const noise = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 16) % 96;
  };
  const idx = (magic: number, dims: number[], data: Uint8Array): Buffer => {
    const header = Buffer.alloc(4 + 4 * dims.length);
    header.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
    return gzipSync(Buffer.concat([header, data]));
  };
  for (const [prefix, count] of [
    ["train", counts.train],
    ["t10k", counts.test],
  ] as const) {
    const images = new Uint8Array(count * 784);
    for (let i = 0; i < count; i++) {
      const label = i % 10;
      for (let p = 0; p < 784; p++) {
        const row = Math.floor(p / 28);
        images[i * 784 + p] = row >= 2 * label && row < 2 * label + 4 ? 160 + noise() : noise();
      }
    }
    writeFileSync(join(root, `${prefix}-images-idx3-ubyte.gz`), idx(0x803, [count, 28, 28], images));
    writeFileSync(
      join(root, `${prefix}-labels-idx1-ubyte.gz`),
      idx(
        0x801,
        [count],
        Uint8Array.from({ length: count }, (_, i) => i % 10),
      ),
    );
  }
  return root;
}
