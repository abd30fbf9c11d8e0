import { formatBytes, formatPeakMemory } from "../train/memory_report.js";
import type { ProfileReport } from "./profile_run.js";

const pct = (share: number): string => `${(100 * share).toFixed(1)}%`;

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")}`);
}

/**
 * The profile as text: the step's breakdown, the slowest ops, the collectives, memory, the
 * verdict with its evidence and lever; `topOps` rows of ops (rank 0's).
 * @example process.stdout.write(formatProfile(report, 10));
 */
export function formatProfile(report: ProfileReport, topOps = 12): string {
  const { shares, perRank } = report;
  const lead = perRank[0]!;
  const of = report.ranks > 1 ? " (rank 0)" : "";
  const lines = [
    `profiled ${report.steps} steps of ${report.name} after ${report.warmup} warm-up steps, ${report.ranks} rank${report.ranks > 1 ? "s" : ""}: ${report.stepMs.toFixed(1)} ms per step`,
    `where the step goes${report.ranks > 1 ? " (mean over ranks)" : ""}:`,
    ...(
      [
        [
          "compute",
          shares.compute,
          `ops (or a compiled step's replay) and the optimizer update (optimizer ${lead.optimizerMsPerStep.toFixed(1)} ms per step${of})`,
        ],
        ["data wait", shares.data, "the training thread waiting for its batch"],
        ["communication", shares.communication, "blocked in collectives (not hidden behind compute)"],
        ["overhead", shares.overhead, "the framework between ops: autograd, the loop, callbacks"],
      ] as const
    ).map(([name, share, what]) => `  ${name.padEnd(13)}  ${pct(share).padStart(6)}  ${what}`),
  ];
  if (report.ranks > 1)
    lines.push(
      `per rank: ${perRank.map((p) => `rank ${p.rank} ${p.stepMs.toFixed(1)} ms (compute ${pct(p.shares.compute)}, data ${pct(p.shares.data)}, communication ${pct(p.shares.communication)})`).join("; ")}`,
    );
  lines.push(
    `ops by self time per step${of}:`,
    ...table([
      ["op", "phase", "calls", "ms", "share"],
      ...lead.ops.slice(0, topOps).map((o) => [o.op, o.phase, o.callsPerStep.toFixed(0), o.msPerStep.toFixed(2), pct(o.share)]),
    ]),
  );
  if (lead.collectives.length > 0)
    lines.push(
      `collectives per step${of}:`,
      ...table([
        ["kind", "calls", "bytes", "ms (issue → done)", "ms blocked", "overlapped with compute"],
        ...lead.collectives.map((c) => [
          c.kind,
          c.callsPerStep.toFixed(0),
          formatBytes(Math.round(c.bytesPerStep)),
          c.msPerStep.toFixed(1),
          c.blockedMsPerStep.toFixed(1),
          pct(c.overlapped),
        ]),
      ]),
    );
  lines.push(
    formatPeakMemory(lead.peakBytes, `peak memory${of}`),
    `memory budget: ${formatBytes(report.memoryBudget)} per rank (${pct(Math.max(...perRank.map((p) => p.peakBytes.total)) / report.memoryBudget)} used at the peak)`,
    `verdict: ${report.verdict.bottleneck}: ${report.verdict.evidence}`,
    `lever: ${report.verdict.lever}`,
    `run folder: ${report.runDir}`,
  );
  return `${lines.join("\n")}\n`;
}
