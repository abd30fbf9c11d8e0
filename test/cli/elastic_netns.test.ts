import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { createTestbed, testbedUnavailable } from "../../testbed/netns.js";
import { repoRoot } from "../helpers/paths.js";
import { missingFashionMnist, missingMpi, skipIfMissing } from "../helpers/prerequisites.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-elastic-netns-"));
after(() => rmSync(work, { recursive: true, force: true }));
const skip = skipIfMissing(missingMpi() ?? missingFashionMnist()) || skipIfMissing(testbedUnavailable());

/** The test bed's mpirun options as the environment Open MPI reads them from (`turbine launch` passes its environment on). */
function mcaEnvironment(args: readonly string[]): Record<string, string> {
  const env: Record<string, string> = { OMPI_MCA_hwloc_base_binding_policy: "none" };
  for (let i = 0; i < args.length; i++) if (args[i] === "--mca") env[`OMPI_MCA_${args[i + 1]}`] = args[i + 2]!;
  return env;
}

test("mpi test bed: a host whose link goes down ends in a restart on the remaining hosts (--min-ranks), global batch kept", {
  skip,
  timeout: 300_000,
}, async () => {
  const bed = createTestbed({ hosts: 3 });
  try {
    const hostfile = join(work, "hosts");
    writeFileSync(hostfile, bed.addresses.map((a) => `${a} slots=1\n`).join(""));
    const args = ["launch", "--backend", "mpi", "--hostfile", hostfile, "--nproc-per-node", "1", "--timeout", "5", "--max-restarts", "2", "--min-ranks", "2"];
    const train = ["train", "--set", "model.kind=mlp", "--set", "model.hidden=[16]", "--set", "data.batchSize=16", "--set", "train.steps=100"];
    const rest = [
      "--set",
      "train.logEvery=1",
      "--set",
      "checkpoint.every=10",
      "--set",
      "data.evalBatchSize=5000",
      "--set",
      `outDir=${work}`,
      "--no-progress",
      "--json",
    ];
    const proc = spawn(process.execPath, [cli, ...args, "--threads-per-worker", "1", "--", ...train, ...rest], {
      cwd: work,
      env: { ...process.env, ...mcaEnvironment(bed.mpirunArgs()) },
    });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    proc.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const metrics = join(work, "mlp", "version_0", "metrics.jsonl");
    let down = false;
    const poll = setInterval(() => {
      if (down || !existsSync(metrics) || !readFileSync(metrics, "utf8").includes('"step":20,')) return;
      execFileSync("ip", ["-n", bed.namespaces[2]!, "link", "set", "eth0", "down"]);
      down = true;
    }, 5);
    const code = await new Promise<number | null>((resolve) => proc.on("close", resolve));
    clearInterval(poll);
    assert.ok(down, "the link was never taken down");
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as { steps: number; elastic: { restarts: number; segments: { ranks: number }[] } };
    assert.equal(summary.steps, 100);
    assert.deepEqual(
      summary.elastic.segments.map((s) => s.ranks),
      [3, 2],
    );
    assert.match(stderr, /launch: data-parallel ranks 3 → 2: data\.batchSize 16 → 24 keeps the global batch of 48/);
    const segment = readFileSync(metrics, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; ranks?: number; change?: string })
      .filter((r) => r.type === "segment")[1]!;
    assert.equal(segment.ranks, 2);
  } finally {
    bed.destroy();
  }
});
