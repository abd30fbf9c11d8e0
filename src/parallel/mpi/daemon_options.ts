/**
 * mpirun options every turbine job passes. Open MPI 4.1's daemons share their hwloc topology
 * through memory mapped at a "hole" of their address space and now and then crash writing it
 * (SIGSEGV in hwloc_shmem_topology_write, seen in about 1 of 7 two-host starts of the test
 * bed); without the hole each process reads the topology itself.
 * @example spawn("mpirun", [...OPEN_MPI_DAEMON_OPTIONS, "-n", "2", "node", "train.js"]);
 */
export const OPEN_MPI_DAEMON_OPTIONS: readonly string[] = ["--mca", "rtc_hwloc_vmhole", "none"];
