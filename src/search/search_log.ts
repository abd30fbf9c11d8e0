import { appendFileSync, existsSync, readFileSync } from "node:fs";

import type { Job, SegmentResult } from "./scheduler.js";

/**
 * `search.jsonl`: one JSON line per event of a search, appended as it happens, so a search that
 * was killed continues from it: the first line holds the search's settings, then a `start` line
 * per segment handed out and a `result` line per segment that ended. A segment with a start and
 * no result was cut short, and runs again from the trial's newest checkpoint.
 */

/** A search.jsonl that cannot be read back (not JSON, or lines out of order). */
export class SearchLogError extends Error {}

/** What the first line records: the settings a continued search must share. */
export type SearchSettings = Record<string, unknown>;

export type SearchEvent = { event: "search"; settings: SearchSettings } | { event: "start"; job: Job } | ({ event: "result"; train_s: number } & SegmentResult);

/** What a log holds: its settings, and its events in order. */
export interface SearchHistory {
  settings: SearchSettings;
  events: SearchEvent[];
}

/**
 * Reads a search.jsonl; null when the file does not exist or is empty. A last line cut short by
 * a kill is dropped; any other unreadable line, or a file with no whole line, is a
 * SearchLogError naming the file and the line.
 * @example const history = readSearchLog("runs/search/search.jsonl");
 */
export function readSearchLog(path: string): SearchHistory | null {
  if (!existsSync(path)) return null;
  const lines = readFileSync(path, "utf8").split("\n");
  const events: SearchEvent[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      events.push(JSON.parse(line) as SearchEvent);
    } catch {
      // The line being written when the search was killed has no newline yet.
      if (i === lines.length - 1) return;
      throw new SearchLogError(`${path}: line ${i + 1} is not JSON; the search cannot continue from it (start a new one with another --out)`);
    }
  });
  const first = events[0];
  if (first === undefined) {
    if (lines.every((line) => line.trim() === "")) return null;
    // Only a line cut short: the settings' line itself, which a search writes before anything else.
    throw new SearchLogError(
      `${path}: holds no whole line, not even the search's settings (cut short?); the search cannot continue from it (start a new one with another --out)`,
    );
  }
  if (first.event !== "search") throw new SearchLogError(`${path}: line 1 is not the search's settings; not a search.jsonl turbine wrote`);
  return { settings: first.settings, events: events.slice(1) };
}

/**
 * Appends one event as a line.
 * @example appendSearchEvent(path, { event: "start", job });
 */
export function appendSearchEvent(path: string, event: SearchEvent): void {
  appendFileSync(path, `${JSON.stringify(event)}\n`);
}

/**
 * Ends a log's last line, cut short by a kill, with a newline, so the next event starts a line of
 * its own (reading already skips the cut line).
 * @example endCutLine("runs/search/search.jsonl");
 */
export function endCutLine(path: string): void {
  if (existsSync(path) && !readFileSync(path, "utf8").endsWith("\n")) appendFileSync(path, "\n");
}
