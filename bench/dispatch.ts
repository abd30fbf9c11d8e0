/**
 * Dispatch overhead: what one tiny op costs from TypeScript, end to end, where the arithmetic
 * is negligible and everything else (argument checks, broadcasting metadata, pooled output
 * allocation, autograd recording, tidy scopes, the N-API crossing) is what is measured.
 *
 *   add          add(a, b) of two 4-element f32 tensors, result disposed
 *   relu         relu(x) of a 1-element f32 tensor, result disposed
 *   add+grad     tidy(() => { add(a, b) }) with a and b requiring grad: records a graph node,
 *                which the scope's end releases together with the output
 *   chain        eager forward and backward of a chain of 100 tiny ops (relu and add of a
 *                4-element parameter, alternating), then sum: the figure is per op
 *   compiled chain  the same step compiled (src/compile) and replayed natively: the kernel
 *                calls bound once and run by the addon's replay loop (native/replay.cc) in one
 *                call, no op dispatch, autograd or allocation
 *   compiled chain, TS loop  the same replay calling each kernel from TypeScript's loop
 *   kernels.binary  the floor: kernels.binary on preallocated 4-element arrays with a
 *                prepared broadcast meta, i.e. the N-API crossing and the kernel alone
 *
 * Each case runs `--batches` batches of `--calls` calls after a warm-up batch; the figure is
 * the median over batches of (batch time / calls), in µs per call, and its multiple of the
 * floor. Batches of the cases are interleaved so machine noise hits them alike.
 *
 *   npx tsc -p . && node dist/bench/dispatch.js [--threads N] [--calls N] [--batches N] [--json]
 */
import { add, compile, relu, sum, type Tensor, tensor, tidy } from "../src/index.js";
import { broadcastMeta } from "../src/ops/broadcast.js";
import { codes, kernels } from "../src/backends/index.js";
import { benchOptions, median, now, report } from "./harness.js";

interface Case {
  name: string;
  what: string;
  call: () => void;
  /** Ops one call runs (the figure is per op; a batch makes calls / ops calls). */
  ops?: number;
}

const CHAIN = 100;

/** A step of CHAIN tiny ops on a 4-element input and parameter, forward and backward; returns the loss. */
function chainStep(x: Tensor, w: Tensor): Tensor {
  return tidy(() => {
    let h = x;
    for (let i = 0; i < CHAIN - 1; i++) h = i % 2 === 0 ? add(h, w) : relu(h);
    const loss = sum(h);
    loss.backward();
    return loss;
  });
}

/** The chain eagerly and compiled (recorded on two steps, replayed after). */
function chainCases(): Case[] {
  const x = tensor([1, 2, 3, 4]);
  const w = tensor([0.5, -1, 2, -3], { requiresGrad: true });
  const dropGrad = (): void => {
    w.grad?.dispose();
    w.grad = null;
  };
  const compiled = compile((inputs) => [chainStep(inputs[0]!, w)], { parameters: [w], log: () => {} });
  const fromTs = compile((inputs) => [chainStep(inputs[0]!, w)], { parameters: [w], nativeReplay: false, log: () => {} });
  return [
    {
      name: "chain",
      what: `eager chain of ${CHAIN} tiny ops, fwd+bwd, per op`,
      ops: CHAIN,
      call: () => {
        chainStep(x, w).dispose();
        dropGrad();
      },
    },
    {
      name: "compiled chain",
      what: `compiled chain of ${CHAIN} tiny ops, fwd+bwd, per op`,
      ops: CHAIN,
      call: () => {
        compiled.run([x]);
        dropGrad();
      },
    },
    {
      name: "compiled chain, TS loop",
      what: `the same, each kernel called from TypeScript's replay loop`,
      ops: CHAIN,
      call: () => {
        fromTs.run([x]);
        dropGrad();
      },
    },
  ];
}

function cases(): Case[] {
  const a = tensor([1, 2, 3, 4]);
  const b = tensor([0.5, -1, 2, -3]);
  const x = tensor([0.25]);
  const ga = tensor([1, 2, 3, 4], { requiresGrad: true });
  const gb = tensor([0.5, -1, 2, -3], { requiresGrad: true });
  const fa = new Float32Array([1, 2, 3, 4]);
  const fb = new Float32Array([0.5, -1, 2, -3]);
  const fout = new Float32Array(4);
  const meta = broadcastMeta([4], [[4], [4]]).slice();
  const addCode = codes.binary.add!;
  return [
    { name: "add", what: "add(a, b), 4 f32, disposed", call: () => add(a, b).dispose() },
    { name: "relu", what: "relu(x), 1 f32, disposed", call: () => relu(x).dispose() },
    {
      name: "add+grad",
      what: "tidy(() => add(a, b)), inputs require grad",
      call: () =>
        tidy(() => {
          add(ga, gb);
        }),
    },
    ...chainCases(),
    { name: "kernels.binary", what: "kernels.binary on preallocated arrays", call: () => kernels.binary(addCode, 0, fa, fb, fout, meta) },
  ];
}

/** Microseconds per op over one batch of `calls` ops. */
function batch({ call, ops = 1 }: Case, calls: number): number {
  const n = Math.max(1, Math.round(calls / ops));
  const t0 = now();
  for (let i = 0; i < n; i++) call();
  return ((now() - t0) / (n * ops)) * 1e6;
}

function main(): void {
  const { threads, json, ints } = benchOptions("dispatch", { calls: 20000, batches: 15 });
  const { calls, batches } = ints as { calls: number; batches: number };
  const all = cases();
  for (const c of all) batch(c, calls);
  const perCall = all.map((): number[] => []);
  for (let i = 0; i < batches; i++) all.forEach((c, j) => perCall[j]!.push(batch(c, calls)));
  const floor = median(perCall[all.length - 1]!);
  const rows = all.map((c, j) => {
    const us = median(perCall[j]!);
    return {
      op: c.name,
      what: c.what,
      threads,
      calls,
      batches,
      usPerCall: us,
      usMin: Math.min(...perCall[j]!),
      usMax: Math.max(...perCall[j]!),
      timesFloor: us / floor,
    };
  });
  if (!json) console.log(`dispatch overhead, median µs per call over ${batches} batches of ${calls} calls (${threads} thread(s))`);
  report(
    rows,
    [
      ["op", "op"],
      ["what", "what"],
      ["usPerCall", "µs/call"],
      ["usMin", "batch min"],
      ["usMax", "batch max"],
      ["timesFloor", "× floor"],
    ],
    json,
  );
}

main();
