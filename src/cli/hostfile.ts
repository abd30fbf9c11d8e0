import { readFileSync } from "node:fs";

import { UsageError } from "./errors.js";

/** One machine of an Open MPI hostfile. */
export interface Host {
  name: string;
  /** Ranks Open MPI may start there (`slots=N`); undefined when the line gives none. */
  slots?: number;
  /** The file's line it came from, from 1. */
  line: number;
}

const SYNTAX = '"HOST [slots=N] [max_slots=N]"';

/**
 * Reads and checks an Open MPI hostfile before mpirun starts, so a missing file or a bad line is
 * reported as one line naming the file and line (mpirun itself answers "internal error").
 * Lines are `HOST [slots=N] [max_slots=N]`; `#` starts a comment; blank lines are skipped.
 * @example readHostfile("hosts") // [{ name: "node1", slots: 2, line: 1 }, { name: "node2", slots: 2, line: 2 }]
 */
export function readHostfile(path: string): Host[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(
      `launch: --hostfile ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      "give an Open MPI hostfile: one HOST [slots=N] per line",
    );
  }
  const hosts: Host[] = [];
  text.split("\n").forEach((raw, i) => {
    const content = raw.replace(/#.*/, "").trim();
    if (content === "") return;
    const [name, ...fields] = content.split(/\s+/);
    const bad = (): UsageError =>
      new UsageError(`launch: ${path}:${i + 1}: expected ${SYNTAX}, got ${JSON.stringify(raw.trim())}`, "slots and max_slots take a positive integer");
    if (name!.includes("=")) throw bad();
    const host: Host = { name: name!, line: i + 1 };
    for (const field of fields) {
      const m = /^(slots|max_slots|max-slots)=(\d+)$/.exec(field);
      if (!m || Number(m[2]) < 1) throw bad();
      if (m[1] === "slots") host.slots = Number(m[2]);
    }
    hosts.push(host);
  });
  if (hosts.length === 0) throw new UsageError(`launch: --hostfile ${path} lists no hosts`, `one ${SYNTAX} per line`);
  return hosts;
}
