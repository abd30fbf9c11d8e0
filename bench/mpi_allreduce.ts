/**
 * The mpi backend's all-reduce against plain C MPI doing the same (bench/mpi/allreduce.c): an
 * in-place float32 sum over 2 ranks of 1 MB and 25 MB, each call after a barrier, medians of
 * the timed calls of a round (1 MB: 200 calls after 20 untimed; 25 MB: 20 after 3; Node's first
 * few dozen calls are slower), `--rounds` rounds alternating the sides. The C program is
 * run twice per round: with MPI_Iallreduce + MPI_Wait (the calls turbine's addon makes, with the
 * same libnbc algorithm) and with blocking MPI_Allreduce (what a C user would write). The ratios
 * are C seconds / turbine seconds (1.0 = as fast as C; ≥ 0.87 is within 15%).
 *
 *   npx tsc -p . && node dist/bench/mpi_allreduce.js [--rounds N] [--json]
 *
 * Needs Open MPI (mpicc, mpirun) and the mpi addon. Ranks share this machine (shared-memory
 * transport); the C program is compiled with mpicc into build/bench/ on first use.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { initMpiProcessGroup } from "../src/parallel/mpi/index.js";
import { full } from "../src/tensor/create.js";
import { packageRoot } from "../src/package_root.js";
import { benchOptions, median, now, report } from "./harness.js";

const SIZES = [
  { bytes: 1 << 20, repeats: 200, warmup: 20 },
  { bytes: 25 << 20, repeats: 20, warmup: 3 },
];
const root = packageRoot();
const source = join(root, "bench", "mpi", "allreduce.c");
const program = join(root, "build", "bench", "mpi_allreduce");
const mpirun = ["--allow-run-as-root", "-n", "2"];

/** One rank's side of a turbine round (this file run under mpirun with --rank-of BYTES REPEATS WARMUP). */
function rankMain(bytes: number, repeats: number, warmup: number): void {
  const group = initMpiProcessGroup();
  const t = full([bytes / 4], 1);
  const seconds: number[] = [];
  for (let r = -warmup; r < repeats; r++) {
    group.barrier();
    const t0 = now();
    group.allReduce(t, "sum");
    if (r >= 0) seconds.push(now() - t0);
  }
  if (group.rank === 0) console.log(JSON.stringify({ seconds }));
}

function buildProgram(): void {
  if (existsSync(program) && statSync(program).mtimeMs >= statSync(source).mtimeMs) return;
  mkdirSync(dirname(program), { recursive: true });
  execFileSync("mpicc", ["-O3", source, "-o", program], { stdio: "inherit" });
}

function run(command: string[]): number {
  const out = execFileSync("mpirun", [...mpirun, ...command], { encoding: "utf8" });
  const line = out.split("\n").find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`mpi_allreduce: no result from ${command.join(" ")}:\n${out}`);
  return median((JSON.parse(line) as { seconds: number[] }).seconds);
}

const rankOf = process.argv.indexOf("--rank-of");
if (rankOf >= 0) {
  const [bytes, repeats, warmup] = process.argv.slice(rankOf + 1, rankOf + 4).map(Number);
  rankMain(bytes!, repeats!, warmup!);
} else {
  const { json, ints } = benchOptions("mpi_allreduce", { rounds: 5 });
  buildProgram();
  const self = fileURLToPath(import.meta.url);
  const rows = SIZES.map(({ bytes, repeats, warmup }) => {
    const args = ["--bytes", String(bytes), "--repeats", String(repeats), "--warmup", String(warmup)];
    const side = { turbine: [] as number[], cNonblocking: [] as number[], cBlocking: [] as number[] };
    for (let round = 0; round < ints.rounds; round++) {
      // libnbc's ring, as the backend sets it (the C side gets it through mpirun's environment).
      const env = ["-x", "OMPI_MCA_coll_libnbc_iallreduce_algorithm=1"];
      side.turbine.push(run([...env, process.execPath, self, "--rank-of", ...[bytes, repeats, warmup].map(String)]));
      side.cNonblocking.push(run([...env, program, ...args, "--nonblocking"]));
      side.cBlocking.push(run([program, ...args]));
    }
    const t = median(side.turbine),
      nb = median(side.cNonblocking),
      b = median(side.cBlocking);
    return { size: `${bytes >> 20} MB`, turbineMs: t * 1e3, cIallreduceMs: nb * 1e3, cAllreduceMs: b * 1e3, vsIallreduce: nb / t, vsAllreduce: b / t };
  });
  report(
    rows,
    [
      ["size", "size"],
      ["turbineMs", "turbine ms"],
      ["cIallreduceMs", "C Iallreduce ms"],
      ["cAllreduceMs", "C Allreduce ms"],
      ["vsIallreduce", "C/turbine (Iallreduce)"],
      ["vsAllreduce", "C/turbine (Allreduce)"],
    ],
    json,
  );
}
