import type { Tensor } from "../tensor/tensor.js";

/**
 * FedProx's proximal term, μ/2 · ‖w − w_global‖², added to a client's loss through its
 * gradient: after backward, each parameter's gradient gains μ · (w − w_global), so local
 * training is pulled towards the round's global model (Li et al., 2020). A parameter without a
 * gradient is left alone.
 * @example addProximalGradient(model.parameters(), globalValues, 0.01);
 */
export function addProximalGradient(params: readonly Tensor[], global: readonly Float32Array[], mu: number): void {
  params.forEach((p, i) => {
    if (!p.grad) return;
    const g = p.grad.toHost() as Float32Array,
      w = p.toHost() as Float32Array,
      w0 = global[i]!;
    for (let j = 0; j < g.length; j++) g[j]! += mu * (w[j]! - w0[j]!);
  });
}
