import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ReportCallback, REPORT_FILE } from "../../src/report/report_callback.js";
import { readMetrics } from "../../src/report/run_data.js";
import type { PlotSpec } from "../../src/report/plots.js";
import type { Callback } from "../../src/train/callbacks.js";
import { parseConfig } from "../../src/train/config_file.js";
import { runTraining } from "../../src/train/run.js";
import { openPage } from "../helpers/chromium.js";
import { repoRoot } from "../helpers/paths.js";
import { missingChromium, skipIfMissing } from "../helpers/prerequisites.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-report-"));
after(() => rmSync(work, { recursive: true, force: true }));

function turbine(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A tiny GPT on a small text: 6 steps, each logged, evaluated every 3 (a second or two). */
const text = join(work, "corpus.txt");
const tiny = {
  name: "tiny",
  outDir: join(work, "runs"),
  model: { kind: "gpt", layers: 1, heads: 1, width: 8, context: 8 },
  data: { kind: "text", path: text, batchSize: 2, valBatches: 1 },
  train: { steps: 6, logEvery: 1, evalEvery: 3 },
};
const runs = [join(work, "runs", "tiny", "version_0"), join(work, "runs", "tiny", "version_1")];

before(() => {
  writeFileSync(text, "and god said let there be light and there was light\n".repeat(60));
  writeFileSync(join(work, "tiny.json"), JSON.stringify(tiny));
  for (const lr of ["0.001", "0.01"]) {
    const r = turbine(["train", "tiny.json", "--report", "--no-progress", "--set", `optimizer.lr=${lr}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /run folder: .*\(metrics\.jsonl, config\.json, summary\.json, report\.html\)/);
  }
});

/** The plots a report's page draws, read from its embedded JSON. */
function reportPlots(html: string): PlotSpec[] {
  const data = /<script id="report-data" type="application\/json">(.*?)<\/script>/s.exec(html);
  assert.ok(data, "the report embeds its data");
  return (JSON.parse(data[1]!) as { plots: PlotSpec[] }).plots;
}

test("train --report leaves report.html in the run folder with every logged step, the evaluations and the summary", () => {
  const html = readFileSync(join(runs[0]!, REPORT_FILE), "utf8");
  const plots = new Map(reportPlots(html).map((p) => [p.id, p]));
  assert.deepEqual(plots.get("loss")!.data[0], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(plots.get("val_loss")!.data[0], [3, 6]);
  assert.equal(plots.get("memory")!.lines.length, 2, "held and peak so far");
  assert.ok(
    plots.get("memory")!.data[2]!.every((v) => typeof v === "number" && v > 0),
    "the peak is logged at every step",
  );
  assert.match(html, /finished: 6 steps in/, "written again after the run, with its summary");
  assert.deepEqual(
    readdirSync(runs[0]!).filter((f) => f.includes(".tmp-")),
    [],
    "written through a temporary file, renamed into place",
  );
  assert.doesNotMatch(html, /\b(src|href)=["']?(https?:)?\/\//, "nothing to load from a network");
});

test("the report is current during the run: rewritten after each logged step and each evaluation", () => {
  const seen: string[] = [];
  const latest = (runDir: string, id: string): number | undefined =>
    reportPlots(readFileSync(join(runDir, REPORT_FILE), "utf8"))
      .find((p) => p.id === id)
      ?.data[0].at(-1);
  const probe = (runDir: string): Callback => ({
    onStepEnd: (info) => void seen.push(`step ${info.step}: loss plot ends at ${latest(runDir, "loss")}`),
    onEvalEnd: (info) => void seen.push(`eval ${info.step}: validation plot ends at ${latest(runDir, "val_loss")}`),
  });
  const config = parseConfig({ ...tiny, name: "in-process", train: { steps: 4, logEvery: 2, evalEvery: 4 } }, "tiny");
  runTraining(config, { log: () => {}, callbacks: (runDir) => [new ReportCallback(runDir), probe(runDir)] });
  assert.deepEqual(seen, [
    "step 1: loss plot ends at undefined",
    "step 2: loss plot ends at 2",
    "step 3: loss plot ends at 2",
    "step 4: loss plot ends at 4",
    "eval 4: validation plot ends at 4",
  ]);
});

test("bad input: a folder that is not a run (exit 2), a corrupt metrics file (exit 1), one line each", () => {
  mkdirSync(join(work, "not-a-run"), { recursive: true });
  const corrupt = join(work, "corrupt", "version_0");
  cpSync(runs[0]!, corrupt, { recursive: true });
  writeFileSync(join(corrupt, "metrics.jsonl"), `${readFileSync(join(corrupt, "metrics.jsonl"), "utf8").replace('"loss":', '"loss":"x",')}`);
  const cases: { args: string[]; code: number; says: RegExp }[] = [
    { args: ["report", "not-a-run"], code: 2, says: /^turbine: not-a-run is not a run folder \(no config\.json in it\); give a run folder such as/ },
    { args: ["report", "nowhere"], code: 2, says: /^turbine: nowhere is not a run folder \(it does not exist\)/ },
    { args: ["report"], code: 2, says: /^turbine: report: missing required argument 'runs'/ },
    { args: ["report", runs[0]!, "--out", work], code: 2, says: /is a folder; give the report's file name, e.g\. .*report\.html$/ },
    // The run's own config: never replaced by the page (a report written before may be).
    { args: ["report", runs[0]!, "--out", join(runs[0]!, "config.json")], code: 2, says: /config\.json exists and is not an HTML page .*give a new file name/ },
    { args: ["report", corrupt], code: 1, says: /metrics\.jsonl line 1: not a JSON record|metrics\.jsonl line 1: a train record's loss is wrong/ },
  ];
  for (const c of cases) {
    const r = turbine(c.args);
    assert.equal(r.code, c.code, `turbine ${c.args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr.trim(), c.says);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
  }
  assert.doesNotThrow(() => JSON.parse(readFileSync(join(runs[0]!, "config.json"), "utf8")), "the run's config is still JSON");
});

test("turbine report in headless Chromium: no console errors, nothing loaded, every plot holds every run's points, a screenshot", {
  skip: skipIfMissing(missingChromium()),
  timeout: 120_000,
}, async (t) => {
  // A third run written by hand: its config carries markup that must stay text.
  const hostile = join(work, "hand", "version_0");
  mkdirSync(hostile, { recursive: true });
  writeFileSync(join(hostile, "config.json"), JSON.stringify({ note: "</script><script>window.injected = true</script>" }));
  const line = (step: number) => ({ type: "train", step, loss: 3 - step / 10, lr: 0.001, throughput: 500, dataWait: 0, trainSeconds: step });
  writeFileSync(join(hostile, "metrics.jsonl"), [2, 4, 6].map((s) => `${JSON.stringify(line(s))}\n`).join(""));
  const out = join(work, "out", "both.html");
  const r = turbine(["report", join(work, "runs", "tiny"), hostile, "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^wrote .*both\.html: 3 runs \(tiny\/version_0, tiny\/version_1, hand\/version_0\)$/m);
  // What each plot must hold: every run's logged points of it.
  const metrics = [...runs, hostile].map((dir) => readMetrics(join(dir, "metrics.jsonl")));
  const expected: Record<string, number[]> = {
    loss: metrics.map((m) => m.train.length),
    lr: metrics.map((m) => m.train.length),
    throughput: metrics.map((m) => m.train.length),
    data_wait: metrics.map((m) => m.train.length),
    val_loss: metrics.map((m) => m.eval.length),
    memory: metrics.flatMap((m) => [m.train.length, m.train.length].map((n) => (m.train[0]?.memoryBytes === undefined ? 0 : n))),
  };
  assert.deepEqual(expected.loss, [6, 6, 3]);
  const page = await openPage(out);
  try {
    const plots = await page.evaluate<{ id: string; points: number[]; width: number }[]>(
      "window.turbineReport.plots.map((p) => ({ id: p.id, width: p.uplot.width, points: p.uplot.data.slice(1).map((s) => s.filter((v) => v !== null && v !== undefined).length) }))",
    );
    assert.deepEqual(page.errors, [], "no console errors");
    assert.deepEqual(
      page.requests.filter((u) => !u.startsWith("file:")),
      [],
      "the page loads nothing from a network",
    );
    for (const [id, counts] of Object.entries(expected)) {
      const plot = plots.find((p) => p.id === id);
      assert.ok(plot, `plot ${id} is drawn`);
      assert.deepEqual(plot.points, counts, `plot ${id}: each line has its run's points`);
      assert.ok(plot.width > 0);
    }
    assert.equal(await page.evaluate("window.injected === undefined"), true, "markup in a config stays text");
    assert.equal(await page.evaluate("document.querySelectorAll('.plot canvas').length"), plots.length, "a canvas per plot");
    const png = join(work, "report.png");
    await page.screenshot(png, 1280);
    const bytes = readFileSync(png);
    assert.equal(bytes.subarray(1, 4).toString(), "PNG");
    assert.equal(bytes.readUInt32BE(16), 1280, "the screenshot's width");
    assert.ok(bytes.readUInt32BE(20) > 900, "the whole page, taller than the window");
    t.diagnostic(`screenshot ${png}: ${bytes.length} bytes`);
  } finally {
    await page.close();
  }
  assert.ok(existsSync(out));
});
