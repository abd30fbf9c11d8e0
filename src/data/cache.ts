import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { DataFileError } from "./data_file_error.js";

/**
 * The folder where derived data (an extracted corpus, say) is kept between runs, the same from
 * whatever folder turbine runs: `dir` when given, else $TURBINE_CACHE, else `turbine` in the
 * user's cache folder ($XDG_CACHE_HOME when it is an absolute path, as the XDG specification
 * asks, else ~/.cache).
 *
 * @example
 * cacheDir();             // "/home/me/.cache/turbine" when TURBINE_CACHE and XDG_CACHE_HOME are unset
 * cacheDir("/tmp/cache"); // "/tmp/cache"
 */
export function cacheDir(dir?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (dir !== undefined) return resolve(dir);
  if (env.TURBINE_CACHE) return resolve(env.TURBINE_CACHE);
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), ".cache"), "turbine");
}

/** What the sidecar `<file>.json` records about a cached file, to tell a whole file from a damaged one. */
interface CacheRecord {
  source: string;
  bytes: number;
  sha256: string;
}

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** Writes `bytes` to `path` by writing a temporary file beside it and renaming it over `path`. */
function writeAtomically(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new DataFileError(`${path}: cannot write the cache file (${(err as Error).message})`, { cause: err });
  }
}

/**
 * The contents of a cached file when it is whole and was made from `source`, else null (the
 * file or its sidecar is missing, unreadable, truncated, altered, or from another source), in
 * which case the caller rebuilds it.
 *
 * @example const bytes = readCached(join(cacheDir(), "kjv.txt"), "bible -f Gen1:1-Rev22:21");
 */
export function readCached(path: string, source: string): Buffer | null {
  let bytes: Buffer;
  let record: Partial<CacheRecord>;
  try {
    bytes = readFileSync(path);
    record = JSON.parse(readFileSync(`${path}.json`, "utf8")) as Partial<CacheRecord>;
  } catch {
    return null;
  }
  const whole = record?.source === source && record.bytes === bytes.length && record.sha256 === sha256(bytes);
  return whole ? bytes : null;
}

/**
 * Stores `bytes` at `path` with a sidecar `<path>.json` holding their length, SHA-256 and
 * `source`, both written atomically (temporary file, then rename), so a reader sees either a
 * whole file or one `readCached` rejects: a crash between the two renames leaves a file whose
 * sidecar does not match, which is rebuilt. Processes racing to fill the same cache each
 * write a whole file; the last rename wins.
 *
 * @example writeCached(join(cacheDir(), "kjv.txt"), bytes, "bible -f Gen1:1-Rev22:21");
 */
export function writeCached(path: string, bytes: Uint8Array, source: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const record: CacheRecord = { source, bytes: bytes.length, sha256: sha256(bytes) };
  writeAtomically(path, bytes);
  writeAtomically(`${path}.json`, `${JSON.stringify(record, null, 2)}\n`);
}
