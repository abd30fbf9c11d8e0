import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { performance } from "node:perf_hooks";
import type { MpiAddon } from "./addon.js";

/**
 * Which ranks of the job are dead, where it can be told: every rank's process id and a key of
 * its process-id space (the kernel's boot id and the pid namespace), gathered once at start-up.
 * A rank that shares this rank's pid space and whose process is gone (or a zombie) is dead;
 * ranks on other machines cannot be checked this way and are never reported. Checked during
 * long waits and after a wait timed out, to name the peer at fault (Open MPI's runtime normally
 * ends the job itself when a rank dies; with `mpirun --enable-recovery` the survivors time out
 * instead).
 */
export class Liveness {
  /** World rank → when it was first seen dead (performance.now()). */
  private readonly seenDead = new Map<number, number>();

  private constructor(
    private readonly pids: Int32Array,
    private readonly spaces: Int32Array,
    private readonly space: number,
  ) {}

  /** Gathers every rank's pid and pid-space key over the world communicator (a collective). */
  static gather(mpi: MpiAddon, size: number, timeoutMs: number): Liveness {
    const space = pidSpaceKey();
    const all = new Int32Array(2 * size);
    const request = mpi.allGather(0, all, new Int32Array([process.pid, space]), 3, false);
    const done = mpi.wait(request, timeoutMs);
    const failure = done ? mpi.take(request) : "timed out";
    if (failure !== null) throw new Error(`initMpiProcessGroup: gathering the ranks' process ids failed: ${failure}`);
    return new Liveness(
      all.filter((_, i) => i % 2 === 0),
      all.filter((_, i) => i % 2 === 1),
      space,
    );
  }

  /**
   * Notes which of `worldRanks` are dead now, each with the first time it was seen so: ranks
   * that time out exit soon after, and by the end of a wait a neighbour of the rank at fault may
   * be gone too.
   */
  watch(worldRanks: readonly number[]): void {
    if (this.space < 0) return;
    const now = performance.now();
    for (const r of worldRanks) if (!this.seenDead.has(r) && this.spaces[r] === this.space && !alive(this.pids[r]!)) this.seenDead.set(r, now);
  }

  /** Of `worldRanks`, the one first seen dead (checked once more now), as an index into that list; the lowest on a tie; null if none. */
  firstDead(worldRanks: readonly number[]): number | null {
    this.watch(worldRanks);
    let first: number | null = null,
      at = Number.POSITIVE_INFINITY;
    worldRanks.forEach((r, i) => {
      const seen = this.seenDead.get(r);
      if (seen !== undefined && seen < at) [first, at] = [i, seen];
    });
    return first;
  }
}

function alive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  // "pid (comm) S ...": a zombie has exited and waits only to be reaped.
  const text = readFileSync(stat, "utf8");
  return text.slice(text.lastIndexOf(")") + 2, text.lastIndexOf(")") + 3) !== "Z";
}

/** A 31-bit key equal for processes that see the same pids (same kernel boot, same pid namespace). */
function pidSpaceKey(): number {
  let text = "unknown";
  try {
    text = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() + readlinkSync("/proc/self/ns/pid");
  } catch {
    // not Linux: no rank is ever reported dead, timeouts still name the op and the rank
    return -1;
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h & 0x7fffffff;
}
