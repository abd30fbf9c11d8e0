/**
 * How much of the gradient all-reduce DistributedDataParallel hides behind backward on the mpi
 * backend, between two hosts of the network-namespace test bed linked at 1 Gbit/s (tc tbf). The
 * model is `--layers` segments of Linear(width, width) + GELU, with DDP buckets of one segment
 * each (one weight and its bias: 1 MB at the default width 512). Three modes, alternated step
 * by step on both ranks, each a forward and backward of the same batch:
 *   none     backward under noSync (no communication);
 *   after    DDP with overlap off: every bucket all-reduced when backward ends;
 *   overlap  DDP as it runs by default: each bucket's all-reduce starts when its last gradient
 *            is ready, during backward, progressed between backward's nodes (and by the
 *            addon's progress thread when nothing tested it for 1 ms).
 * Every step ends with a barrier, in all three modes. exposed = median step − median `none`
 * step; hidden share = 1 − exposed(overlap)/exposed(after).
 *
 * The default batch, 2048, makes backward (~100 ms) longer than the all-reduce of the 8 MB of
 * gradients on the link (~73 ms): overlap can hide communication only behind backward, and at
 * batch 512 backward (~25 ms) ends long before the link is done.
 *
 *   npx tsc -p . && node dist/bench/overlap.js [--layers N] [--width N] [--batch N] [--steps N] [--json]
 *
 * Needs root, iproute2 and Open MPI (the test bed); each rank runs 1 OpenMP thread. Both
 * "hosts" share this machine's cores, so the communication's own CPU work (TCP over veth,
 * the progress thread) competes with the other rank's backward.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

import { DistributedDataParallel } from "../src/parallel/ddp.js";
import { initMpiProcessGroup } from "../src/parallel/mpi/index.js";
import { createTestbed } from "../testbed/netns.js";
import { Sequential } from "../src/nn/containers.js";
import { GELU } from "../src/nn/layers.js";
import { Linear } from "../src/nn/linear.js";
import { ones } from "../src/tensor/create.js";
import { kernels } from "../src/backends/index.js";
import { randn } from "../src/tensor/random.js";
import { tidy } from "../src/tensor/scope.js";
import { benchOptions, median, now, report } from "./harness.js";

const MODES = ["none", "after", "overlap"] as const;
type Mode = (typeof MODES)[number];

function rankMain(layers: number, width: number, batch: number, steps: number): void {
  kernels.setNumThreads(1);
  const group = initMpiProcessGroup({ timeoutMs: 120_000 });
  const model = new Sequential(...Array.from({ length: layers }, () => [new Linear(width, width), new GELU()]).flat());
  const bucket = (width * width * 4) / 2 ** 20;
  // Two wrappers of the same model; each mode runs the other (or both) under noSync.
  const overlapped = new DistributedDataParallel(model, group, { bucketCapMB: bucket, firstBucketCapMB: bucket });
  const after = new DistributedDataParallel(model, group, { bucketCapMB: bucket, firstBucketCapMB: bucket, overlap: false, broadcastParameters: false });
  const input = randn([batch, width]);
  const seed = ones([batch, width]);

  const step = (mode: Mode): void =>
    tidy(() => {
      const backward = (): void => model.forward(input).backward(seed);
      if (mode === "none") overlapped.noSync(() => after.noSync(backward));
      else if (mode === "after") overlapped.noSync(backward);
      else after.noSync(backward);
      model.zeroGrad();
    });

  const times: Record<Mode, number[]> = { none: [], after: [], overlap: [] };
  for (let i = -2; i < steps; i++) {
    for (const mode of MODES) {
      group.barrier();
      const t0 = now();
      step(mode);
      // Ends every mode alike: the ranks' imbalance (they share this machine's cores) then
      // counts in all three, and the exposed time is the communication's own.
      group.barrier();
      if (i >= 0) times[mode].push(now() - t0);
    }
  }
  if (group.rank === 0)
    console.log(JSON.stringify({ buckets: overlapped.buckets.length, none: median(times.none), after: median(times.after), overlap: median(times.overlap) }));
}

const at = process.argv.indexOf("--rank-of");
if (at >= 0) {
  const [layers, width, batch, steps] = process.argv.slice(at + 1, at + 5).map(Number);
  rankMain(layers!, width!, batch!, steps!);
} else {
  const { json, ints } = benchOptions("overlap", { layers: 16, width: 512, batch: 2048, steps: 10 });
  const bed = createTestbed({ hosts: 2, rate: "1gbit" });
  try {
    const shape = [ints.layers, ints.width, ints.batch, ints.steps].map(String);
    const r = spawnSync("mpirun", [...bed.mpirunArgs(), process.execPath, fileURLToPath(import.meta.url), "--rank-of", ...shape], { encoding: "utf8" });
    const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
    if (r.status !== 0 || line === undefined) throw new Error(`overlap: the ranks failed:\n${r.stdout}${r.stderr}`);
    const t = JSON.parse(line) as Record<Mode | "buckets", number>;
    const bytes = ints.layers * (ints.width * ints.width + ints.width) * 4;
    const exposedAfter = t.after - t.none,
      exposedOverlap = t.overlap - t.none;
    report(
      [
        {
          gradMB: bytes / 2 ** 20,
          buckets: t.buckets,
          noneMs: t.none * 1e3,
          afterMs: t.after * 1e3,
          overlapMs: t.overlap * 1e3,
          exposedAfterMs: exposedAfter * 1e3,
          exposedOverlapMs: exposedOverlap * 1e3,
          hidden: 1 - exposedOverlap / exposedAfter,
        },
      ],
      [
        ["gradMB", "grads MB"],
        ["buckets", "buckets"],
        ["noneMs", "no comm ms"],
        ["afterMs", "after ms"],
        ["overlapMs", "overlap ms"],
        ["exposedAfterMs", "exposed after ms"],
        ["exposedOverlapMs", "exposed overlap ms"],
        ["hidden", "hidden share"],
      ],
      json,
    );
  } finally {
    bed.destroy();
  }
}
