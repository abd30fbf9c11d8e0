import { formatBytes } from "../train/memory_report.js";

/**
 * The leaves of a JSON value by dotted path, arrays as JSON text (a config's `hidden: [128]`
 * stays one field).
 * @example flatten({ a: { b: 1 }, c: [1, 2] }) // Map { "a.b" => 1, "c" => "[1,2]" }
 */
export function flatten(value: unknown, prefix = "", into = new Map<string, unknown>()): Map<string, unknown> {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) flatten(child, prefix === "" ? key : `${prefix}.${key}`, into);
  } else {
    into.set(prefix, Array.isArray(value) ? JSON.stringify(value) : value);
  }
  return into;
}

/**
 * The fields whose values differ between the given objects (a field one of them lacks differs),
 * in the order they first appear: what sets overlaid runs apart.
 * @example differingFields([{ lr: 1, seed: 0 }, { lr: 2, seed: 0 }]) // ["lr"]
 */
export function differingFields(objects: readonly Map<string, unknown>[]): string[] {
  const keys = [...new Set(objects.flatMap((o) => [...o.keys()]))];
  return keys.filter((key) => new Set(objects.map((o) => JSON.stringify(o.get(key)))).size > 1);
}

/**
 * A field's value for a table cell: bytes in binary units (fields named …bytes… hold byte
 * counts in a run summary), other numbers to four significant digits, "—" for none.
 * @example formatField("peak_bytes.total", 3145728) // "3.00 MiB"
 */
export function formatField(path: string, value: unknown): string {
  if (value === undefined || value === null) return "—";
  if (typeof value !== "number") return typeof value === "string" ? value : JSON.stringify(value);
  if (/bytes/.test(path)) return formatBytes(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return Number(value.toPrecision(4)).toString();
}
