import { add, mul } from "../ops/binary.js";
import { reshape } from "../ops/view.js";
import { release } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { ModuleList } from "./containers.js";
import { Linear } from "./linear.js";
import { Module } from "./module.js";
import { type ExpertRunner, localExperts, mixtureOfExperts, type RoutingOptions } from "./moe_routing.js";

/** A mixture-of-experts MLP's shape and routing. */
export interface MoEOptions extends RoutingOptions {
  experts: number;
  /** Hidden width of each expert's MLP (default 4 × width, as the dense MLP it replaces). */
  hidden?: number;
  /** The load-balancing loss's weight in `moeAuxLoss` (default 0.01, Switch's). */
  auxLossWeight?: number;
}

/** One expert: the transformer's GELU MLP, width → hidden → width. */
export class ExpertMLP extends Module {
  readonly fc: Linear;
  readonly fcProj: Linear;

  constructor(width: number, hidden: number) {
    super();
    // Each step routes a different number of tokens here.
    this.fc = this.addModule("fc", new Linear(width, hidden, { varyingRows: true }));
    this.fcProj = this.addModule("fcProj", new Linear(hidden, width, { varyingRows: true }));
  }

  forward(x: Tensor): Tensor {
    // fc and its GELU as one fused op (linearGelu).
    const g = this.fc.forward(x, "gelu");
    return release(this.fcProj.forward(g), g);
  }
}

/**
 * A mixture of `experts` GELU MLPs with a linear softmax router (Switch Transformer / GShard;
 * see `mixtureOfExperts` for routing, capacity and dropping). Takes [..., width], returns the
 * same shape; `auxLoss` holds the last forward's load-balancing loss (1 when balanced), which
 * `moeAuxLoss` adds up with the layers' weights for the training loss. `expertRunner` replaces where the experts run
 * (expert parallelism); by default all of them run here.
 *
 * @example
 * const moe = new MixtureOfExperts(64, { experts: 4, topK: 2, capacityFactor: 1.25, drop: true });
 * const y = moe.forward(x);            // [B, T, 64]
 * const loss = add(task, moeAuxLoss(moe)!);
 */
export class MixtureOfExperts extends Module {
  readonly router: Linear;
  readonly experts: ModuleList;
  auxLoss: Tensor | null = null;
  expertRunner: ExpertRunner;

  constructor(
    readonly width: number,
    readonly options: MoEOptions,
  ) {
    super();
    if (!Number.isInteger(options.experts) || options.experts < 1) throw new RangeError(`moe: experts must be a positive integer, got ${options.experts}`);
    if (!Number.isInteger(options.topK) || options.topK < 1 || options.topK > options.experts) {
      throw new RangeError(`moe: topK must be an integer in [1, ${options.experts}] (the experts), got ${options.topK}`);
    }
    if (!(options.capacityFactor > 0)) throw new RangeError(`moe: capacityFactor must be > 0, got ${options.capacityFactor}`);
    const hidden = options.hidden ?? 4 * width;
    this.router = this.addModule("router", new Linear(width, options.experts, { bias: false }));
    this.experts = this.addModule("experts", new ModuleList(Array.from({ length: options.experts }, () => new ExpertMLP(width, hidden))));
    this.expertRunner = localExperts(this.experts.items.map((m) => (rows: Tensor) => m.forward(rows)));
  }

  forward(x: Tensor): Tensor {
    const tokens = reshape(x, [-1, this.width]);
    const { output, auxLoss } = mixtureOfExperts(tokens, this.router.weight, this.expertRunner, this.options);
    this.auxLoss = auxLoss;
    return reshape(output, x.shape);
  }
}

/**
 * The sum of the load-balancing losses of every MixtureOfExperts in `model` from their last
 * forward, each times its `auxLossWeight`; null when there is none (a dense model).
 * @example const aux = moeAuxLoss(gpt); if (aux) loss = add(loss, aux);
 */
export function moeAuxLoss(model: Module): Tensor | null {
  let total: Tensor | null = null;
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof MixtureOfExperts) || !m.auxLoss) continue;
    const term = mul(m.auxLoss, m.options.auxLossWeight ?? 0.01);
    total = total ? add(total, term) : term;
  }
  return total;
}
