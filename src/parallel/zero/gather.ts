import type { Module } from "../../nn/module.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup, Work } from "../process_group.js";
import { makeUnit, type Unit } from "./partition.js";

/**
 * ZeRO-3's units: one per module that owns trained parameters (a parameter two modules share
 * goes to the first in pre-order), in reverse pre-order, the order backward finishes them. Also
 * returns each unit's module.
 * @example const { units, owners } = unitsByModule(model, group.size);
 */
export function unitsByModule(root: Module, worldSize: number): { units: Unit[]; owners: Module[] } {
  const seen = new Set<Tensor>();
  const units: Unit[] = [],
    owners: Module[] = [];
  for (const [, m] of root.namedModules()) {
    const own = m
      .namedParameters()
      .filter(([name, p]) => !name.includes(".") && p.requiresGrad && !seen.has(p))
      .map(([, p]) => p);
    own.forEach((p) => {
      seen.add(p);
    });
    if (own.length > 0) {
      units.push(makeUnit(own, worldSize));
      owners.push(m);
    }
  }
  return { units: units.reverse(), owners: owners.reverse() };
}

/**
 * ZeRO-3's parameters on demand. Between uses a unit's parameters are meta (no elements); as a
 * module's forward starts, its unit's chunks are all-gathered from every rank's master chunk
 * into a flat buffer its parameters become views of, and the gather of the next unit in forward
 * order is started (prefetched) so it travels while this one computes. When a module's forward
 * returns, the units of the modules inside it are freed (the root's own too): a parent may
 * still read a child's parameter (a head tied to the embedding). Backward needs no second
 * gather: the ops that need a weight in backward hold a handle on its gathered storage, which
 * is freed as soon as backward has used it.
 *
 * @example
 * const gatherer = new ParameterGatherer(model, units, owners, shard.masters, group);
 * model.forward(x);                 // gathers and frees unit by unit
 * gatherer.withAll(() => model.stateDict());
 */
export class ParameterGatherer {
  private readonly flats: (Tensor | null)[];
  private readonly works: (Work | null)[];
  private readonly gathered: boolean[];
  private readonly restores: (() => void)[] = [];

  constructor(
    root: Module,
    private readonly units: readonly Unit[],
    owners: readonly Module[],
    private readonly masters: readonly Tensor[],
    private readonly group: ProcessGroup,
  ) {
    this.flats = units.map(() => null);
    this.works = units.map(() => null);
    this.gathered = units.map(() => false);
    const unitOf = new Map(owners.map((m, u) => [m, u]));
    for (const [, m] of root.namedModules()) {
      const own = unitOf.get(m);
      const inside = m
        .namedModules()
        .map(([, d]) => unitOf.get(d))
        .filter((u): u is number => u !== undefined && (m === root || u !== own));
      const target = m as unknown as { forward: (...args: unknown[]) => unknown };
      const original = target.forward;
      target.forward = (...args: unknown[]) => {
        if (own !== undefined) this.ensure(own);
        try {
          return original.apply(m, args);
        } finally {
          for (const u of inside) this.release(u);
        }
      };
      this.restores.push(() => {
        delete (target as { forward?: unknown }).forward;
      });
    }
  }

  /** Runs fn with every unit gathered (reading or writing the whole model), then frees them. */
  withAll<T>(fn: () => T): T {
    this.units.forEach((_, u) => {
      this.ensure(u, false);
    });
    try {
      return fn();
    } finally {
      this.units.forEach((_, u) => {
        this.release(u);
      });
    }
  }

  /** Waits for and drops gathers still in flight (before the masters change in a step). */
  settle(): void {
    this.units.forEach((_, u) => {
      if (this.gathered[u] || !this.works[u]) return;
      this.works[u]!.wait();
      this.dropFlat(u);
    });
  }

  /** Unwraps the modules' forwards; the parameters stay as they are. */
  dispose(): void {
    for (const restore of this.restores) restore();
  }

  private start(u: number): void {
    const flat = Tensor.empty([this.units[u]!.chunk * this.group.size], "float32", "parameter");
    flat.kept = true;
    this.flats[u] = flat;
    this.works[u] = this.group.allGather(flat, this.masters[u]!, { async: true });
  }

  private ensure(u: number, prefetch = true): void {
    if (this.gathered[u]) return;
    if (!this.works[u]) this.start(u);
    this.works[u]!.wait();
    const unit = this.units[u]!,
      flat = this.flats[u]!;
    unit.params.forEach((p, i) => {
      p.realize(flat.viewRange(unit.offsets[i]!, p.shape));
      p.version++;
    });
    this.dropFlat(u);
    this.gathered[u] = true;
    // Units are in reverse forward order: the next one to run forward is u - 1.
    const next = u - 1;
    if (prefetch && next >= 0 && !this.gathered[next] && !this.works[next]) this.start(next);
  }

  private dropFlat(u: number): void {
    const flat = this.flats[u]!;
    flat.kept = false;
    flat.dispose();
    this.flats[u] = null;
    this.works[u] = null;
  }

  private release(u: number): void {
    if (!this.gathered[u]) return;
    for (const p of this.units[u]!.params) p.unrealize();
    this.gathered[u] = false;
  }
}
