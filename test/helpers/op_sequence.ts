import { add, dropout, gelu, Generator, manualSeed, matmul, mean, mul, rand, randn, sum, tanh, tidy, type Tensor } from "../../src/index.js";

/** The bit patterns of a tensor's elements, so results compare exactly (NaN and -0 included). */
function bits(t: Tensor): number[] {
  const d = t.data;
  return Array.from(d instanceof Float32Array ? new Uint32Array(d.buffer, d.byteOffset, d.length) : d);
}

/**
 * A fixed training-like step through the public entry point: seeded creation, matmul (f32 and
 * bf16), unary, binary, dropout, reduction and a backward. The worker-thread test runs it in a
 * worker and in the main thread and compares the bits.
 */
export function runOpSequence(): number[][] {
  return tidy(() => {
    manualSeed(2024);
    const x = randn([48, 96]);
    const w = randn([96, 64]);
    const b = rand([64]);
    w.requiresGrad = true;
    b.requiresGrad = true;
    const h = add(matmul(x, w), b);
    const a = gelu(h);
    const d = dropout(a, 0.2);
    const t = tanh(mul(d, d));
    const m = mean(t, 1);
    const loss = sum(mul(m, m));
    loss.backward();
    const low = matmul(randn([32, 40], { dtype: "bfloat16", generator: new Generator(7) }), randn([40, 24], { dtype: "bfloat16" }));
    const results = [x, w, b, h, a, d, t, m, loss, w.grad!, b.grad!, low].map(bits);
    w.grad!.dispose();
    b.grad!.dispose();
    return results;
  });
}
