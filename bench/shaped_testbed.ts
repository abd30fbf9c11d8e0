import { createTestbed, type Testbed } from "../testbed/netns.js";

/**
 * The 2-host test bed (network namespaces) with each link shaped to `rate` and 1 ms latency;
 * where the kernel has no netem (the latency's qdisc), at `rate` alone, saying so on stderr.
 * @example const bed = shapedTestbed("100mbit"); try { ... bed.mpirunArgs(2) ... } finally { bed.destroy(); }
 */
export function shapedTestbed(rate: string): Testbed {
  try {
    return createTestbed({ hosts: 2, rate, delay: "1ms" });
  } catch (error) {
    process.stderr.write(`no 1 ms latency (${(error as Error).message.split("\n")[0]}): the links are shaped to ${rate} only\n`);
    return createTestbed({ hosts: 2, rate });
  }
}
