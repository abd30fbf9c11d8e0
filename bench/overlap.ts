/**
 * How much of the gradient all-reduce the mpi backend hides behind backward, between two hosts
 * of the network-namespace test bed linked at 1 Gbit/s (tc tbf). Independent of DDP: the
 * network is cut into `--layers` segments (Linear width×width + GELU); backward runs segment
 * by segment through the real autograd (each segment's input is a leaf), so a segment's
 * parameter gradients are ready as soon as its backward ends. Three modes, alternated step by
 * step on both ranks:
 *   none     backward only (no communication);
 *   after    backward, then every gradient all-reduced (started together, waited together);
 *   overlap  each segment's gradients all-reduced asynchronously as soon as they are ready,
 *            all waited after backward.
 * exposed = median step − median `none` step; hidden share = 1 − exposed(overlap)/exposed(after).
 * The all-reduces progress during backward through the addon's progress thread (it tests the
 * requests in flight every 100 µs), not through calls from the training loop.
 *
 *   npx tsc -p . && node dist/bench/overlap.js [--layers N] [--width N] [--batch N] [--steps N] [--json]
 *
 * Needs root, iproute2 and Open MPI (the test bed); each rank runs 1 OpenMP thread.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

import { initMpiProcessGroup } from "../src/dist/mpi/index.js";
import type { Work } from "../src/dist/process_group.js";
import { createTestbed } from "../src/dist/testbed/netns.js";
import { Linear } from "../src/nn/linear.js";
import { detach, gelu } from "../src/ops/index.js";
import { ones } from "../src/tensor/create.js";
import { native } from "../src/tensor/native.js";
import { randn } from "../src/tensor/random.js";
import { tidy } from "../src/tensor/scope.js";
import type { Tensor } from "../src/tensor/tensor.js";
import { benchOptions, median, now, report } from "./harness.js";

const MODES = ["none", "after", "overlap"] as const;
type Mode = (typeof MODES)[number];

function rankMain(layers: number, width: number, batch: number, steps: number): void {
  native.setNumThreads(1);
  const group = initMpiProcessGroup({ timeoutMs: 120_000 });
  const segments = Array.from({ length: layers }, () => new Linear(width, width));
  const input = randn([batch, width]);
  const seed = ones([batch, width]);

  const step = (mode: Mode): void =>
    tidy(() => {
      const leaves: Tensor[] = [], outputs: Tensor[] = [];
      let x = input;
      for (const s of segments) {
        const leaf = detach(x);
        leaf.requiresGrad = true;
        leaves.push(leaf);
        x = gelu(s.forward(leaf));
        outputs.push(x);
      }
      const works: Work[] = [];
      let grad = seed;
      for (let i = layers - 1; i >= 0; i--) {
        outputs[i]!.backward(grad);
        grad = leaves[i]!.grad!;
        if (mode === "overlap") for (const p of segments[i]!.parameters()) works.push(group.allReduce(p.grad!, "mean", { async: true }));
      }
      if (mode === "after") for (const s of segments) for (const p of s.parameters()) works.push(group.allReduce(p.grad!, "mean", { async: true }));
      for (const w of works) w.wait();
      for (const s of segments) for (const p of s.parameters()) p.grad = null;
    });

  const times: Record<Mode, number[]> = { none: [], after: [], overlap: [] };
  for (let i = -2; i < steps; i++) {
    for (const mode of MODES) {
      group.barrier();
      const t0 = now();
      step(mode);
      if (i >= 0) times[mode].push(now() - t0);
    }
  }
  if (group.rank === 0) console.log(JSON.stringify({ none: median(times.none), after: median(times.after), overlap: median(times.overlap) }));
}

const at = process.argv.indexOf("--rank-of");
if (at >= 0) {
  const [layers, width, batch, steps] = process.argv.slice(at + 1, at + 5).map(Number);
  rankMain(layers!, width!, batch!, steps!);
} else {
  const { json, ints } = benchOptions("overlap", { layers: 8, width: 512, batch: 512, steps: 8 });
  const bed = createTestbed({ hosts: 2, rate: "1gbit" });
  try {
    const shape = [ints.layers, ints.width, ints.batch, ints.steps].map(String);
    const r = spawnSync("mpirun", [...bed.mpirunArgs(), process.execPath, fileURLToPath(import.meta.url), "--rank-of", ...shape], { encoding: "utf8" });
    const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
    if (r.status !== 0 || line === undefined) throw new Error(`overlap: the ranks failed:\n${r.stdout}${r.stderr}`);
    const t = JSON.parse(line) as Record<Mode, number>;
    const bytes = ints.layers * (ints.width * ints.width + ints.width) * 4;
    const exposedAfter = t.after - t.none, exposedOverlap = t.overlap - t.none;
    report(
      [{ gradMB: bytes / 2 ** 20, noneMs: t.none * 1e3, afterMs: t.after * 1e3, overlapMs: t.overlap * 1e3, exposedAfterMs: exposedAfter * 1e3, exposedOverlapMs: exposedOverlap * 1e3, hidden: 1 - exposedOverlap / exposedAfter }],
      [["gradMB", "grads MB"], ["noneMs", "no comm ms"], ["afterMs", "after ms"], ["overlapMs", "overlap ms"], ["exposedAfterMs", "exposed after ms"], ["exposedOverlapMs", "exposed overlap ms"], ["hidden", "hidden share"]],
      json,
    );
  } finally {
    bed.destroy();
  }
}
