// One process of launch_timeout.test, started under mpirun as `turbine launch --backend mpi` starts
// a rank (TURBINE_DIST_BACKEND=mpi, TURBINE_TIMEOUT_S): prints the timeout its group got.
import { initProcessGroup } from "../../src/parallel/init.js";

const group = (await initProcessGroup()) as unknown as { timeoutMs: number };
process.stdout.write(`${JSON.stringify({ timeoutMs: group.timeoutMs })}\n`);
