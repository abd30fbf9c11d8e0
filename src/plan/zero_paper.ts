/**
 * The ZeRO paper's model-state bytes per device (Rajbhandari et al., 2020, §5 and Table 1) for
 * mixed-precision training: fp16 parameters (2Ψ) and gradients (2Ψ) and K bytes of optimizer
 * state per parameter (K = 12 for Adam: fp32 master weights, momentum and variance), with the
 * stages partitioning them over N data-parallel devices:
 *
 * | stage | bytes |
 * |---|---|
 * | 0 (DDP) | (2 + 2 + K)Ψ |
 * | 1 (P_os) | 2Ψ + 2Ψ + KΨ/N |
 * | 2 (P_os+g) | 2Ψ + (2 + K)Ψ/N |
 * | 3 (P_os+g+p) | (2 + 2 + K)Ψ/N |
 *
 * The planner reports it beside turbine's own layout (modelStateBytes, which keeps float32
 * parameters and gradients), for comparison with estimators that use the paper's count.
 *
 * @example zeroPaperBytes(7.5e9, 64, 1)   // 31.4e9, the paper's Table 1
 */
export function zeroPaperBytes(parameters: number, ranks: number, stage: 0 | 1 | 2 | 3, k = 12): number {
  if (!Number.isInteger(ranks) || ranks < 1) throw new RangeError(`zeroPaperBytes: ranks must be an integer ≥ 1, got ${ranks}`);
  const psi = parameters;
  switch (stage) {
    case 0:
      return (2 + 2 + k) * psi;
    case 1:
      return 2 * psi + 2 * psi + (k * psi) / ranks;
    case 2:
      return 2 * psi + ((2 + k) * psi) / ranks;
    case 3:
      return ((2 + 2 + k) * psi) / ranks;
  }
}
