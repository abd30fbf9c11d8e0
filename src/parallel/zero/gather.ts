import { type PackedTensor, withSavedTensorPacker } from "../../autograd/saved_tensors.js";
import { Sequential } from "../../nn/containers.js";
import type { Module } from "../../nn/module.js";
import { autocastLowDType } from "../../ops/autocast_hook.js";
import { castInto } from "../../ops/inplace.js";
import { DTYPES } from "../../tensor/dtype.js";
import { adoptLowCopy, dropLowCopy } from "../../tensor/low_copy.js";
import type { Storage } from "../../tensor/storage.js";
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

/** The dtype a unit travels in: bfloat16 under bf16 autocast, else its float32 masters (null). */
type LowDType = "bfloat16" | null;

/** An all-gather of a unit in flight: what it lands in, its bf16 input (if cast), its Work. */
interface InFlight {
  buffer: Tensor;
  input: Tensor | null;
  work: Work;
  low: LowDType;
}

/** A gathered unit: the float32 flat its parameters are views of and, if it travelled as bf16, that flat (their copies). */
interface Gathered {
  f32: Tensor;
  low: Tensor | null;
}

/**
 * ZeRO-3's parameters on demand. Between uses a unit's parameters are meta (no elements). As a
 * module's forward starts, its unit's chunks are all-gathered from every rank's master chunk
 * into a flat buffer its parameters become views of, and the gather of the next unit in forward
 * order is started (prefetched) so it travels while this one computes. A unit is freed when the
 * module that may still read it returns: a module's parent (a head tied to the embedding reads
 * a child's weight), or the module itself when its parent is a Sequential, which only calls its
 * layers.
 *
 * Backward gathers again: while a wrapped forward runs, an op that saves a gathered parameter
 * (or a view of one) for backward keeps only where it lies in its unit (a packed saved tensor,
 * src/autograd/saved_tensors.ts), so the forward's free really frees. When backward reaches a
 * node that saved one, the unit is gathered again, the unit forward gathered just before it is
 * prefetched, and the unit is freed once its last such node has run. The root's forward ends by
 * prefetching the unit backward needs first.
 *
 * Under bf16 autocast a unit travels as bf16 (each rank casts its f32 master chunk: half the
 * bytes), its bf16 views become its parameters' low-precision copies (src/tensor/low_copy.ts;
 * the same bits a cast of the f32 masters gives) and its f32 views an upcast of them; backward
 * gathers in the dtype forward used.
 *
 * @example
 * const gatherer = new ParameterGatherer(model, units, owners, shard.masters, group);
 * model.forward(x);                 // gathers and frees unit by unit
 * gatherer.withAll(() => model.stateDict());
 */
export class ParameterGatherer {
  private readonly gathered: (Gathered | null)[];
  private readonly inFlight: (InFlight | null)[];
  /** Per unit: gathered for a forward that has not freed it yet. */
  private readonly forwardHolds: boolean[];
  /** Per unit: packed saved tensors of it not yet released by their nodes. */
  private readonly savedUses: number[];
  /** Per unit: the dtype its last forward gather used (backward gathers the same). */
  private readonly travelledAs: LowDType[];
  private readonly unitOfStorage = new Map<Storage, number>();
  /** The units in the order the last forward of the root gathered them. */
  private forwardOrder: number[] = [];
  private readonly restores: (() => void)[] = [];

  constructor(
    root: Module,
    private readonly units: readonly Unit[],
    owners: readonly Module[],
    private readonly masters: readonly Tensor[],
    private readonly group: ProcessGroup,
  ) {
    this.gathered = units.map(() => null);
    this.inFlight = units.map(() => null);
    this.forwardHolds = units.map(() => false);
    this.savedUses = units.map(() => 0);
    this.travelledAs = units.map(() => null);
    const unitOf = new Map(owners.map((m, u) => [m, u]));
    const byName = new Map(root.namedModules());
    for (const [name, m] of byName) {
      const own = unitOf.get(m);
      const parent = name === "" ? null : byName.get(name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : "");
      const freesOwn = m === root || parent instanceof Sequential;
      const freed = m
        .namedModules()
        .map(([, d]) => unitOf.get(d))
        .filter((u): u is number => u !== undefined && (freesOwn || u !== own));
      const target = m as unknown as { forward: (...args: unknown[]) => unknown };
      const original = target.forward;
      target.forward = (...args: unknown[]) => {
        if (m === root) this.forwardOrder = [];
        if (own !== undefined) this.gatherForForward(own);
        try {
          return withSavedTensorPacker(this.pack, () => original.apply(m, args));
        } finally {
          for (const u of freed) {
            this.forwardHolds[u] = false;
            this.release(u);
          }
          if (m === root) this.prefetchForBackward();
        }
      };
      this.restores.push(() => {
        delete (target as { forward?: unknown }).forward;
      });
    }
  }

  /** Runs fn with every unit gathered in float32 (reading or writing the whole model), then frees them. */
  withAll<T>(fn: () => T): T {
    this.units.forEach((_, u) => {
      this.gather(u, null);
    });
    try {
      return fn();
    } finally {
      this.units.forEach((_, u) => {
        if (!this.forwardHolds[u] && this.savedUses[u] === 0) this.release(u);
      });
    }
  }

  /**
   * Before the masters change (a step, a load): waits for and drops gathers still in flight,
   * and frees units no forward holds (one a graph never backpropagated gathered), so the next
   * forward gathers the new values.
   */
  settle(): void {
    this.units.forEach((_, u) => {
      this.dropInFlight(u);
      if (!this.forwardHolds[u]) this.release(u);
    });
  }

  /** Unwraps the modules' forwards; the parameters stay as they are. */
  dispose(): void {
    for (const restore of this.restores) restore();
  }

  /** Packs a saved tensor that lies in a gathered unit as its unit, dtype and place (see the class). */
  private readonly pack = (t: Tensor): PackedTensor | null => {
    if (t.disposed) return null;
    const u = this.unitOfStorage.get(t.storage);
    if (u === undefined) return null;
    const g = this.gathered[u]!;
    const low = g.low !== null && g.low.storage === t.storage;
    const offset = (t.toHost().byteOffset - (low ? g.low! : g.f32).toHost().byteOffset) / DTYPES[t.dtype].bytes;
    const shape = t.shape;
    this.savedUses[u]!++;
    return {
      unpack: () => {
        this.gatherForBackward(u);
        const again = this.gathered[u]!;
        return (low ? again.low! : again.f32).viewRange(offset, shape);
      },
      release: () => {
        if (--this.savedUses[u]! === 0 && !this.forwardHolds[u]) this.release(u);
      },
    };
  };

  private gatherForForward(u: number): void {
    const low: LowDType = autocastLowDType("linear") === "bfloat16" ? "bfloat16" : null;
    this.gather(u, low);
    this.forwardHolds[u] = true;
    this.travelledAs[u] = low;
    if (!this.forwardOrder.includes(u)) this.forwardOrder.push(u);
    // Units are in reverse pre-order: the next one to run forward is u - 1.
    const next = u - 1;
    if (next >= 0 && !this.gathered[next] && !this.inFlight[next]) this.start(next, low);
  }

  private gatherForBackward(u: number): void {
    this.gather(u, this.travelledAs[u] ?? null);
    // Backward runs the units in the reverse of forward's order: prefetch the one before u.
    const at = this.forwardOrder.lastIndexOf(u);
    for (let i = at - 1; i >= 0; i--) {
      const previous = this.forwardOrder[i]!;
      if (this.savedUses[previous] === 0) continue;
      if (!this.gathered[previous] && !this.inFlight[previous]) this.start(previous, this.travelledAs[previous] ?? null);
      return;
    }
  }

  /** Starts gathering the unit backward needs first: the last one forward gathered that a node saved. */
  private prefetchForBackward(): void {
    for (let i = this.forwardOrder.length - 1; i >= 0; i--) {
      const u = this.forwardOrder[i]!;
      if (this.savedUses[u] === 0) continue;
      if (!this.gathered[u] && !this.inFlight[u]) this.start(u, this.travelledAs[u] ?? null);
      return;
    }
  }

  private start(u: number, low: LowDType): void {
    const unit = this.units[u]!,
      master = this.masters[u]!;
    const buffer = Tensor.empty([unit.chunk * this.group.size], low ?? "float32", "parameter");
    buffer.kept = true;
    let input: Tensor | null = null;
    if (low) {
      input = castInto(Tensor.empty([unit.chunk], low, "parameter"), master);
      input.kept = true;
    }
    this.inFlight[u] = { buffer, input, work: this.group.allGather(buffer, input ?? master, { async: true }), low };
  }

  /** Makes unit u's parameters views of its gathered values (gathering them in `low`'s dtype if not in flight as that). */
  private gather(u: number, low: LowDType): void {
    if (this.gathered[u]) return;
    if (this.inFlight[u]?.low !== low) this.dropInFlight(u);
    if (!this.inFlight[u]) this.start(u, low);
    const flight = this.inFlight[u]!;
    flight.work.wait();
    this.inFlight[u] = null;
    if (flight.input) disposeKept(flight.input);
    let f32 = flight.buffer;
    if (low) {
      f32 = castInto(Tensor.empty([flight.buffer.size], "float32", "parameter"), flight.buffer);
      f32.kept = true;
    }
    const lowFlat = low ? flight.buffer : null;
    const unit = this.units[u]!;
    unit.params.forEach((p, i) => {
      p.realize(f32.viewRange(unit.offsets[i]!, p.shape));
      p.version++;
      if (lowFlat) adoptLowCopy(p, lowFlat.viewRange(unit.offsets[i]!, p.shape));
    });
    this.gathered[u] = { f32, low: lowFlat };
    this.unitOfStorage.set(f32.storage, u);
    if (lowFlat) this.unitOfStorage.set(lowFlat.storage, u);
  }

  private release(u: number): void {
    const g = this.gathered[u];
    if (!g) return;
    for (const p of this.units[u]!.params) {
      p.unrealize();
      dropLowCopy(p);
    }
    this.unitOfStorage.delete(g.f32.storage);
    disposeKept(g.f32);
    if (g.low) {
      this.unitOfStorage.delete(g.low.storage);
      disposeKept(g.low);
    }
    this.gathered[u] = null;
  }

  private dropInFlight(u: number): void {
    const flight = this.inFlight[u];
    if (!flight) return;
    flight.work.wait();
    disposeKept(flight.buffer);
    if (flight.input) disposeKept(flight.input);
    this.inFlight[u] = null;
  }
}

function disposeKept(t: Tensor): void {
  t.kept = false;
  t.dispose();
}
