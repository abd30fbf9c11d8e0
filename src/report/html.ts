import { plotsOf, runColor } from "./plots.js";
import type { RunData } from "./run_data.js";
import { differingFields, flatten, formatField } from "./tables.js";
import { uplotAssets } from "./uplot_assets.js";

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** JSON inside a script element: a "<" in any string (say "</script>") cannot end the element. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, "\\u003c");

/** Script text inside a script element: "</script" can only stand in a string or comment there, where "<\/" means the same. */
const inlineScript = (js: string): string => js.replace(/<\/script/gi, "<\\/script");

const PAGE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #666; margin: 0 0 16px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.plots { margin-top: 16px; display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; }
.plot { border: 1px solid #eee; padding: 4px; }
pre { background: #f8f8f8; padding: 8px; overflow: auto; max-height: 480px; }
`;

/**
 * Draws the plots from the JSON of the element #report-data with uPlot, and leaves the
 * instances on window.turbineReport.plots (a test reads each plot's data from there).
 */
const PAGE_JS = `
const spec = JSON.parse(document.getElementById("report-data").textContent);
const plots = spec.plots.map((p) => {
  // Each plot fills its grid cell (two columns on a wide window).
  const element = document.getElementById("plot-" + p.id);
  const series = p.lines.map((l) => ({
    label: l.label,
    stroke: l.color,
    width: 2,
    spanGaps: true,
    ...(l.dash ? { dash: l.dash } : {}),
    ...(l.points ? { points: { show: true, size: 6, fill: l.color } } : {}),
  }));
  const options = {
    title: p.title,
    width: Math.max(400, element.clientWidth - 10),
    height: 280,
    scales: { x: { time: false } },
    series: [{ label: "step" }, ...series],
    axes: [{ label: "step" }, { label: p.yLabel, size: 70 }],
  };
  return { id: p.id, title: p.title, uplot: new uPlot(options, p.data, element) };
});
window.turbineReport = { plots };
`;

/** What the report says of a run's state: its summary's outcome, or how far it has logged. */
function runStatus(run: RunData): string {
  const last = run.train.at(-1)?.step ?? 0;
  if (run.summary === null) return `no summary yet (running, or ended by an error): last logged step ${last}`;
  const stopped = run.summary.interrupted ?? run.summary.stopped;
  return `finished: ${formatField("steps", run.summary.steps)} steps in ${formatField("train_s", run.summary.train_s)} s${stopped ? ` (${String(stopped)})` : ""}`;
}

const swatch = (i: number): string => `<span class="swatch" style="background:${runColor(i)}"></span>`;

/** A table with one row per field and one column per run. */
function fieldTable(runs: readonly RunData[], fields: readonly string[], values: readonly Map<string, unknown>[]): string {
  const head = runs.map((run, i) => `<th>${swatch(i)}${escapeHtml(run.label)}</th>`).join("");
  const rows = fields.map((field) => {
    const cells = values.map((v) => {
      const value = v.get(field);
      return `<td${typeof value === "number" ? ' class="num"' : ""}>${escapeHtml(formatField(field, value))}</td>`;
    });
    return `<tr><th>${escapeHtml(field)}</th>${cells.join("")}</tr>`;
  });
  return `<table><tr><th></th>${head}</tr>${rows.join("")}</table>`;
}

/**
 * One self-contained HTML page of `runs`, overlaid one colour per run: the plots of `plotsOf`
 * (drawn by uPlot, whose script and CSS are inlined: the page loads nothing), the runs' states,
 * their summaries side by side, the config fields that differ between them and each whole config.
 * @example writeFileSync("report.html", renderReport([readRun("runs/cnn/version_0")]));
 */
export function renderReport(runs: readonly RunData[], options: { generatedAt?: Date } = {}): string {
  const { js, css } = uplotAssets();
  const plots = plotsOf(runs);
  const generated = (options.generatedAt ?? new Date())
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");
  const runRows = runs
    .map((run, i) => `<tr><td>${swatch(i)}${escapeHtml(run.label)}</td><td>${escapeHtml(run.dir)}</td><td>${escapeHtml(runStatus(run))}</td></tr>`)
    .join("");
  const summaries = runs.map((run) => {
    const fields = flatten(run.summary ?? {});
    fields.delete("run_dir");
    return fields;
  });
  const summaryFields = [...new Set(summaries.flatMap((s) => [...s.keys()]))];
  const configs = runs.map((run) => flatten(run.config));
  const differing = runs.length > 1 ? differingFields(configs) : [];
  const sections = [
    `<h1>turbine report</h1><p class="meta">${runs.length} run${runs.length === 1 ? "" : "s"}, generated ${generated}</p>`,
    `<table><tr><th>run</th><th>folder</th><th>state</th></tr>${runRows}</table>`,
    plots.length === 0
      ? "<p>No metrics logged yet.</p>"
      : `<div class="plots">${plots.map((p) => `<div class="plot" id="plot-${p.id}"></div>`).join("")}</div>`,
    `<h2>Summary</h2>${summaryFields.length === 0 ? "<p>No run has finished yet.</p>" : fieldTable(runs, summaryFields, summaries)}`,
    runs.length > 1 ? `<h2>Config differences</h2>${differing.length === 0 ? "<p>The configs are the same.</p>" : fieldTable(runs, differing, configs)}` : "",
    `<h2>Config</h2>${runs
      .map(
        (run, i) =>
          `<details${i === 0 ? " open" : ""}><summary>${swatch(i)}${escapeHtml(run.label)}</summary><pre>${escapeHtml(JSON.stringify(run.config, null, 2))}</pre></details>`,
      )
      .join("")}`,
  ];
  const title = `turbine report: ${runs.map((r) => r.label).join(", ")}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
${sections.join("\n")}
<script>${inlineScript(js)}</script>
<script id="report-data" type="application/json">${scriptJson({ plots })}</script>
<script>${PAGE_JS}</script>
</body>
</html>
`;
}
