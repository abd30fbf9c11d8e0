import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { cacheDir, readCached, writeCached } from "./cache.js";

export interface KjvOptions {
  /** Where the extracted text is kept (default: `cacheDir()`, i.e. $TURBINE_CACHE, else $XDG_CACHE_HOME/turbine or ~/.cache/turbine). */
  cacheDir?: string;
  /** The `bible` program to run (default "bible", found on PATH). */
  executable?: string;
  /** How long extraction may take before it is an error, in milliseconds (default 60000). */
  timeoutMs?: number;
}

/** The verse range of the whole Bible; `-f` turns pretty-printing off: one "Ge1:1 text" line per verse. */
const ARGS = ["-f", "Gen1:1-Rev22:21"];
const SOURCE = `bible ${ARGS.join(" ")}`;
const FILE = "kjv.txt";
const INSTALL_HINT = "install it with `apt-get install bible-kjv`, or pass the path of any UTF-8 text file instead";
/** Far above the 4.4 MB the text takes, so a sane `bible` never hits it. */
const MAX_OUTPUT = 64 << 20;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Runs `bible -f Gen1:1-Rev22:21` and returns its output, checked to be UTF-8 that runs from
 * the first verse to the last (bible silently clamps verse ranges, so a damaged data file
 * could otherwise pass for the text).
 */
function extract(executable: string, timeoutMs: number): Buffer {
  const run = spawnSync(executable, ARGS, { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs, maxBuffer: MAX_OUTPUT });
  const code = (run.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") throw new Error(`KJV: the \`${executable}\` program was not found; ${INSTALL_HINT}`);
  if (code === "ETIMEDOUT") throw new Error(`KJV: \`${SOURCE}\` did not finish within ${timeoutMs} ms`);
  if (run.error) throw new Error(`KJV: running \`${SOURCE}\` failed (${run.error.message})`, { cause: run.error });
  if (run.status !== 0) {
    const how = run.status === null ? `was killed by ${run.signal}` : `exited with status ${run.status}`;
    throw new Error(`KJV: \`${SOURCE}\` ${how}: ${run.stderr.toString().trim() || "(no message)"}`);
  }
  let text: string;
  try {
    text = utf8.decode(run.stdout);
  } catch {
    throw new Error(`KJV: \`${SOURCE}\` printed ${run.stdout.length} bytes that are not valid UTF-8`);
  }
  const lastLine = text.slice(text.lastIndexOf("\n", text.length - 2) + 1);
  if (!text.startsWith("Ge1:1 ") || !lastLine.startsWith("Rev22:21 ")) {
    throw new Error(`KJV: \`${SOURCE}\` printed ${run.stdout.length} bytes that do not run from Ge1:1 to Rev22:21; is the bible-kjv data intact?`);
  }
  return run.stdout;
}

/**
 * The King James Bible as text, from Debian's `bible-kjv` package: every verse on its own
 * line, preceded by its reference ("Ge1:1 In the beginning God created the heaven and the
 * earth."), about 4.4 MB. The first call runs `bible -f Gen1:1-Rev22:21` and caches the output
 * as `kjv.txt` in the cache folder (with a checksum sidecar, so a truncated or altered copy is
 * noticed and extracted again); later calls read the cache.
 *
 * @example
 * const text = loadKjv();
 * text.slice(0, 20); // "Ge1:1 In the beginni"
 */
export function loadKjv(options: KjvOptions = {}): string {
  const path = join(cacheDir(options.cacheDir), FILE);
  let bytes = readCached(path, SOURCE);
  if (bytes === null) {
    bytes = extract(options.executable ?? "bible", options.timeoutMs ?? 60_000);
    writeCached(path, bytes, SOURCE);
  }
  return utf8.decode(bytes);
}
