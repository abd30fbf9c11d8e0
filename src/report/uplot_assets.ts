import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** uPlot's browser build and stylesheet, inlined into every report so it opens without a network. */
export interface UplotAssets {
  js: string;
  css: string;
}

let cached: UplotAssets | null = null;

/**
 * uPlot's minified script (it defines the global `uPlot`) and its CSS, read once from the
 * installed package (a dependency of turbine).
 * @example const { js, css } = uplotAssets();
 */
export function uplotAssets(): UplotAssets {
  if (cached !== null) return cached;
  const require = createRequire(import.meta.url);
  const read = (file: string): string => readFileSync(require.resolve(`uplot/dist/${file}`), "utf8");
  cached = { js: read("uPlot.iife.min.js"), css: read("uPlot.min.css") };
  return cached;
}
