/**
 * Hierarchical against flat all-reduce (issue 18): 4 mpi ranks on 2 "machines" (network
 * namespaces of the test bed, 2 ranks each, shared memory inside), their links shaped with tc
 * (--mbit Mbit/s, 1 ms where the kernel has netem), a float32 sum of --mb MB. Flat is Open MPI's all-reduce over the world
 * (libnbc's ring, as the mpi backend sets it); hierarchical is `HierarchicalGroup` (reduce-scatter
 * inside each namespace, all-reduce of the chunks across, all-gather inside). Per mode: the
 * median seconds of --repeats calls after one untimed, the bandwidth (MB / s), and the bytes each
 * namespace's link sent per call (its eth0 veth's tx_bytes counter). Issue 18's target:
 * hierarchical ≥ 1.3× flat's bandwidth at 100 Mbit/s.
 *
 *   sudo node dist/bench/hierarchical.js [--mb 25] [--mbit 100] [--repeats 3] [--json]
 *
 * Needs root (namespaces), iproute2, tc and Open MPI. At 100 Mbit/s one flat call of 25 MB takes
 * about 3 s; the default run (1 + 3 calls per mode) about 30 s.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { gatherArrays } from "../src/parallel/compression/gather.js";
import { HierarchicalGroup } from "../src/parallel/mpi/hierarchical.js";
import { initMpiProcessGroup } from "../src/parallel/mpi/index.js";
import type { ProcessGroup } from "../src/parallel/process_group.js";
import { full } from "../src/tensor/create.js";
import { benchOptions, median, now, report } from "./harness.js";
import { shapedTestbed } from "./shaped_testbed.js";

/** This namespace's link: bytes sent so far. */
const sentBytes = (): number => Number(readFileSync("/sys/class/net/eth0/statistics/tx_bytes", "utf8"));

/** One mode's calls: the median seconds, and each rank's reading of its namespace's link counter per call. */
function measure(group: ProcessGroup, via: ProcessGroup, elements: number, repeats: number): { seconds: number; perRank: Float32Array } {
  const t = full([elements], 1),
    seconds: number[] = [];
  via.allReduce(t, "sum");
  group.barrier();
  const before = sentBytes();
  for (let r = 0; r < repeats; r++) {
    group.barrier();
    const t0 = now();
    via.allReduce(t, "sum");
    seconds.push(now() - t0);
  }
  group.barrier();
  const perRank = gatherArrays(group, new Float32Array([(sentBytes() - before) / repeats]), "float32");
  return { seconds: median(seconds), perRank };
}

function rankMain(mb: number, repeats: number): void {
  const group = initMpiProcessGroup();
  const byMachine = HierarchicalGroup.over(group, { force: true })!;
  const elements = (mb << 20) / 4;
  const flat = measure(group, group, elements, repeats),
    hierarchical = measure(group, byMachine, elements, repeats);
  // Ranks 0-1 share namespace 0 and ranks 2-3 namespace 1 (mpirun fills each host in turn).
  if (group.rank === 0)
    console.log(JSON.stringify({ flat: { ...flat, perRank: [...flat.perRank] }, hierarchical: { ...hierarchical, perRank: [...hierarchical.perRank] } }));
}

const rankOf = process.argv.indexOf("--rank-of");
if (rankOf >= 0) {
  const [mb, repeats] = process.argv.slice(rankOf + 1, rankOf + 3).map(Number);
  rankMain(mb!, repeats!);
} else {
  const { json, ints } = benchOptions("hierarchical", { mb: 25, mbit: 100, repeats: 3 });
  const bed = shapedTestbed(`${ints.mbit}mbit`);
  try {
    const self = fileURLToPath(import.meta.url);
    const out = execFileSync("mpirun", [...bed.mpirunArgs(2), process.execPath, self, "--rank-of", String(ints.mb), String(ints.repeats)], {
      encoding: "utf8",
    });
    const line = out.split("\n").find((l) => l.startsWith("{"));
    if (line === undefined) throw new Error(`hierarchical: no result:\n${out}`);
    const result = JSON.parse(line) as Record<"flat" | "hierarchical", { seconds: number; perRank: number[] }>;
    const rows = (["flat", "hierarchical"] as const).map((mode) => {
      const { seconds, perRank } = result[mode];
      return {
        mode,
        seconds: Number(seconds.toFixed(3)),
        mbPerS: Number((ints.mb / seconds).toFixed(2)),
        versusFlat: Number((result.flat.seconds / seconds).toFixed(2)),
        // The counter is the namespace's: both of its ranks read the same one.
        link0: Math.round(perRank[0]!),
        link1: Math.round(perRank[2]!),
      };
    });
    report(
      rows,
      [
        ["mode", "all-reduce"],
        ["seconds", "s / call"],
        ["mbPerS", "MB/s"],
        ["versusFlat", "× flat"],
        ["link0", "ns 0 link bytes / call"],
        ["link1", "ns 1 link bytes / call"],
      ],
      json,
    );
  } finally {
    bed.destroy();
  }
}
