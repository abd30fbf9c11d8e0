import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { OPEN_MPI_DAEMON_OPTIONS } from "../src/parallel/mpi/daemon_options.js";

/** Options of a network-namespace test bed. */
export interface TestbedOptions {
  /** Hosts (namespaces) to make, ≥ 2. */
  hosts: number;
  /** Egress bandwidth of every host's link, as tc writes it ("1gbit"); unshaped when absent. */
  rate?: string;
  /** One-way latency added to every host's link ("1ms"), through netem; none when absent. */
  delay?: string;
}

/**
 * Hosts made of network namespaces joined by veth pairs to a bridge in a switch namespace. It
 * is run as real hosts are: mpirun (in the root namespace, linked to the bridge at .254 for its
 * control traffic only) starts one Open MPI daemon per host through an "rsh agent" that enters
 * the host's namespace instead of ssh-ing into it; the ranks' PMIx server is then their own
 * host's daemon, and rank-to-rank data goes over the hosts' addresses by TCP.
 */
export interface Testbed {
  /** Namespace of each host, in rank order. */
  readonly namespaces: readonly string[];
  /** Each host's IPv4 address (the only addresses its traffic uses). */
  readonly addresses: readonly string[];
  /** The hosts' subnet, CIDR ("10.213.7.0/24"). */
  readonly subnet: string;
  /**
   * mpirun's arguments for `ranksPerHost` ranks per host (default 1): the hosts, the
   * namespace-entering agent, TCP only, on the bed's subnet (a host's own ranks reach each other
   * over its loopback: Open MPI's shared-memory transport crashes across namespaces here).
   * Append the command.
   */
  mpirunArgs(ranksPerHost?: number): string[];
  /** Deletes every namespace (and so every link) of the bed; safe to call twice. */
  destroy(): void;
}

const PREFIX = "turbine-tb";
const live = new Set<Testbed>();
process.once("exit", () => live.forEach((bed) => bed.destroy()));

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function has(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why a test bed cannot be made here, or null when it can: it needs root (namespaces), iproute2
 * and Open MPI's mpirun.
 * @example const reason = testbedUnavailable(); test("...", { skip: reason ?? false }, ...)
 */
export function testbedUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "the network-namespace test bed needs root (ip netns)";
  if (!has("ip")) return "the network-namespace test bed needs iproute2's `ip`";
  if (!has("tc")) return "the network-namespace test bed needs iproute2's `tc`";
  if (!has("mpirun")) return "the network-namespace test bed needs Open MPI's mpirun";
  return null;
}

/** Deletes beds left by processes that no longer run (a killed test run skips its cleanup). */
function deleteStale(): void {
  for (const line of ip("netns", "list").split("\n")) {
    const m = new RegExp(`^(${PREFIX}-(\\d+)-\\S+)`).exec(line);
    if (m === null) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      ip("netns", "delete", m[1]!);
    }
  }
}

let beds = 0;

/**
 * Makes `hosts` network namespaces, each with one veth link to a bridge, optionally shaped.
 * Always destroy() it (in a finally); an exit hook also does, and the next bed deletes beds
 * of dead processes.
 *
 * @example
 * const bed = createTestbed({ hosts: 2, rate: "1gbit" });
 * try { execFileSync("mpirun", [...bed.mpirunArgs(), "node", "train.js"]); } finally { bed.destroy(); }
 */
export function createTestbed(options: TestbedOptions): Testbed {
  const reason = testbedUnavailable();
  if (reason !== null) throw new Error(`createTestbed: ${reason}`);
  if (!Number.isInteger(options.hosts) || options.hosts < 2 || options.hosts > 200)
    throw new RangeError(`createTestbed: hosts must be an integer in 2..200, got ${options.hosts}`);
  deleteStale();
  const id = `${PREFIX}-${process.pid}-${beds++}`;
  const octet = (process.pid * 7 + beds) % 250;
  const subnet = `10.213.${octet}.0/24`;
  const agent = join(tmpdir(), `${id}-agent.sh`);
  // The namespaces share /tmp and the host name, so every daemon's Open MPI session directory
  // (ompi.HOST.UID/jf.FAMILY/JOB/VPID) lands in one tree; a 16-bit job family that collides with
  // a killed job's leftover directory stops the daemons ("mkdir ... File exists"). Each bed
  // keeps its own tree and deletes it.
  const sessions = join(tmpdir(), `${id}-sessions`);
  const rootPort = `tb${process.pid % 1e6}-${beds}`;
  const sw = `${id}-sw`;
  const namespaces = Array.from({ length: options.hosts }, (_, k) => `${id}-${k}`);
  const addresses = namespaces.map((_, k) => `10.213.${octet}.${k + 1}`);
  let destroyed = false;
  const bed: Testbed = {
    namespaces,
    addresses,
    subnet,
    mpirunArgs: (ranksPerHost = 1) => [
      // Each host's daemon would bind its rank to "its" first core, the same core for all.
      "--allow-run-as-root",
      "-n",
      String(options.hosts * ranksPerHost),
      "--host",
      addresses.map((a) => `${a}:${ranksPerHost}`).join(","),
      "--bind-to",
      "none",
      "--mca",
      "plm_rsh_agent",
      agent,
      "--mca",
      "oob_tcp_if_include",
      subnet,
      "--mca",
      "btl",
      "tcp,self",
      "--mca",
      "btl_tcp_if_include",
      subnet,
      "--mca",
      "orte_tmpdir_base",
      sessions,
      ...OPEN_MPI_DAEMON_OPTIONS,
    ],
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      live.delete(bed);
      rmSync(agent, { force: true });
      rmSync(sessions, { recursive: true, force: true });
      const steps = [["link", "delete", rootPort], ...[...namespaces, sw].map((ns) => ["netns", "delete", ns])];
      for (const step of steps) {
        try {
          ip(...step);
        } catch {
          // never made (creation failed part-way), or gone with its peer
        }
      }
    },
  };
  live.add(bed);
  try {
    const cases = addresses.map((a, k) => `${a}) ns=${namespaces[k]} ;;`).join(" ");
    writeFileSync(
      agent,
      `#!/bin/sh\n# rsh agent: HOST COMMAND...\nhost=$1; shift\ncase $host in ${cases} *) echo "no host $host" >&2; exit 1 ;; esac\nexec ip netns exec $ns sh -c "$*"\n`,
    );
    chmodSync(agent, 0o755);
    mkdirSync(sessions);
    ip("netns", "add", sw);
    ip("-n", sw, "link", "add", "br0", "type", "bridge");
    ip("-n", sw, "link", "set", "br0", "up");
    // The root namespace's port, for mpirun's control traffic to its daemons.
    ip("link", "add", rootPort, "type", "veth", "peer", "name", "root", "netns", sw);
    ip("-n", sw, "link", "set", "root", "master", "br0", "up");
    ip("addr", "add", `10.213.${octet}.254/24`, "dev", rootPort);
    ip("link", "set", rootPort, "up");
    namespaces.forEach((ns, k) => {
      ip("netns", "add", ns);
      ip("-n", ns, "link", "set", "lo", "up");
      // Both ends are made inside the host namespace, then one moves to the switch.
      ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", `p${k}`);
      ip("-n", ns, "link", "set", `p${k}`, "netns", sw);
      ip("-n", sw, "link", "set", `p${k}`, "master", "br0", "up");
      ip("-n", ns, "addr", "add", `${addresses[k]}/24`, "dev", "eth0");
      ip("-n", ns, "link", "set", "eth0", "up");
      shape(ns, options);
    });
  } catch (e) {
    bed.destroy();
    throw new Error(`createTestbed: ${(e as Error).message}`);
  }
  return bed;
}

function shape(ns: string, options: TestbedOptions): void {
  const tc = (...args: string[]): void => void execFileSync("ip", ["netns", "exec", ns, "tc", ...args], { stdio: "ignore" });
  if (options.delay !== undefined) {
    const rate = options.rate === undefined ? [] : ["rate", options.rate];
    tc("qdisc", "add", "dev", "eth0", "root", "netem", "delay", options.delay, ...rate, "limit", "10000");
  } else if (options.rate !== undefined) {
    tc("qdisc", "add", "dev", "eth0", "root", "tbf", "rate", options.rate, "burst", "256kb", "latency", "50ms");
  }
}
