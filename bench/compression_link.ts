/**
 * Gradient compression over a slow link (issue 18): the gpt workload's 2-rank step, one mpi rank
 * in each of 2 network namespaces whose links tc shapes to 1 Gbit/s and 100 Mbit/s (1 ms latency
 * where the kernel has netem), for: noSync (no communication at all: the floor), uncompressed
 * DDP, each `parallel.compression.kind` and 1-bit Adam after its warm-up. Per row: median
 * seconds per step over --steps after --warmup untimed, its ratio to noSync, and the bytes a
 * rank sent per step (`comm_bytes`) with their ratio to uncompressed. Issue 18's targets: bf16
 * 2×, topk ≥ 20×, powersgd r4 ≥ 30×, onebit ≥ 25× fewer bytes; at 100 Mbit/s the best
 * compressor within 15% of noSync.
 *
 *   sudo node dist/bench/compression_link.js [--steps 10] [--warmup 3] [--json]
 *
 * Needs root (namespaces), iproute2, tc and Open MPI. About 2 × 7 runs of the gpt workload
 * (a few minutes on a quiet machine; uncompressed DDP at 100 Mbit/s dominates).
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

import { initMpiProcessGroup } from "../src/parallel/mpi/index.js";
import { benchOptions, report } from "./harness.js";
import { type LinkRun, run } from "./compression_link_rank.js";
import { shapedTestbed } from "./shaped_testbed.js";

const METHODS = ["nosync", "none", "bf16", "topk", "powersgd", "onebit", "onebitadam"] as const;

const rankOf = process.argv.indexOf("--rank-of");
if (rankOf >= 0) {
  const [method, steps, warmup] = process.argv.slice(rankOf + 1, rankOf + 4);
  const group = initMpiProcessGroup();
  const result = run(group, { method: method!, steps: Number(steps), warmup: Number(warmup) });
  if (group.rank === 0) console.log(JSON.stringify(result));
} else {
  const { json, ints } = benchOptions("compression_link", { steps: 10, warmup: 3 });
  const self = fileURLToPath(import.meta.url);
  const rows: Record<string, unknown>[] = [];
  for (const rate of ["1gbit", "100mbit"]) {
    const bed = shapedTestbed(rate);
    try {
      const results = new Map<string, LinkRun>();
      for (const method of METHODS) {
        const out = execFileSync("mpirun", [...bed.mpirunArgs(1), process.execPath, self, "--rank-of", method, String(ints.steps), String(ints.warmup)], {
          encoding: "utf8",
        });
        const line = out.split("\n").find((l) => l.startsWith("{"));
        if (line === undefined) throw new Error(`compression_link: no result for ${method} at ${rate}:\n${out}`);
        const r = JSON.parse(line) as LinkRun;
        results.set(method, r);
        const floor = results.get("nosync")!.seconds,
          plain = results.get("none")?.bytes;
        rows.push({
          rate,
          method,
          seconds: Number(r.seconds.toFixed(3)),
          versusNoSync: Number((r.seconds / floor).toFixed(2)),
          bytes: Math.round(r.bytes),
          fewer: plain && r.bytes > 0 ? Number((plain / r.bytes).toFixed(1)) : "",
        });
        process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
      }
    } finally {
      bed.destroy();
    }
  }
  report(
    rows,
    [
      ["rate", "link"],
      ["method", "gradients"],
      ["seconds", "s / step"],
      ["versusNoSync", "× noSync"],
      ["bytes", "bytes/step/rank"],
      ["fewer", "× fewer"],
    ],
    json,
  );
}
