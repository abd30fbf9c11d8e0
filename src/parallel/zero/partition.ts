import type { Tensor } from "../../tensor/tensor.js";

/**
 * How ZeRO lays parameters out across ranks. Parameters are grouped into units (a communication
 * bucket at stages 1 and 2, one module's own parameters at stage 3); a unit's parameters are
 * concatenated, row-major, into one flat range, padded with zeros to a multiple of the world
 * size, and cut into `size` equal chunks: rank r owns chunk r of every unit. A reduce-scatter of
 * a unit's flat gradients therefore leaves each rank exactly its chunk, and an all-gather of the
 * chunks rebuilds the unit, whatever the world size (3, 5, 7 ranks as well as powers of two).
 */
export interface Unit {
  readonly params: readonly Tensor[];
  /** Element offset of each parameter in the unit's flat range. */
  readonly offsets: readonly number[];
  /** Elements of the parameters, without padding. */
  readonly elements: number;
  /** Elements of each rank's chunk: ceil(elements / world size). */
  readonly chunk: number;
}

/** The part of one parameter that falls in this rank's chunk of its unit. */
export interface ParamSlice {
  readonly param: Tensor;
  /** First element of the slice in the parameter (flat, row-major). */
  readonly paramStart: number;
  /** First element of the slice in this rank's chunk. */
  readonly chunkStart: number;
  readonly length: number;
}

/**
 * A unit of these parameters (in this order) for a world of `worldSize` ranks.
 * @example const unit = makeUnit(layer.parameters(), 3);   // unit.chunk * 3 >= unit.elements
 */
export function makeUnit(params: readonly Tensor[], worldSize: number): Unit {
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`ZeRO: the world size must be a positive integer, got ${worldSize}`);
  const offsets: number[] = [];
  let elements = 0;
  for (const p of params) {
    offsets.push(elements);
    elements += p.size;
  }
  return { params, offsets, elements, chunk: Math.max(1, Math.ceil(elements / worldSize)) };
}

/**
 * The slices of a unit's parameters that rank `rank` owns, in parameter order (parameters wholly
 * outside its chunk have none; a parameter may span several ranks' chunks).
 * @example for (const s of slicesOfRank(unit, group.rank)) master.viewRange(s.chunkStart, [s.length]);
 */
export function slicesOfRank(unit: Unit, rank: number): ParamSlice[] {
  const begin = rank * unit.chunk,
    end = begin + unit.chunk;
  const slices: ParamSlice[] = [];
  unit.params.forEach((param, i) => {
    const start = Math.max(begin, unit.offsets[i]!),
      stop = Math.min(end, unit.offsets[i]! + param.size);
    if (stop > start) slices.push({ param, paramStart: start - unit.offsets[i]!, chunkStart: start - begin, length: stop - start });
  });
  return slices;
}

/**
 * Groups parameters into units of about `capBytes` each (the first `firstCapBytes`, so that
 * communication starts early in backward), in the order given, never mixing dtypes, as DDP's
 * buckets.
 * @example const units = unitsBySize(params.reverse(), 25 * 2 ** 20, 2 ** 20, group.size);
 */
export function unitsBySize(params: readonly Tensor[], capBytes: number, firstCapBytes: number, worldSize: number): Unit[] {
  const units: Unit[] = [];
  let current: Tensor[] = [],
    bytes = 0;
  const close = (): void => {
    if (current.length > 0) units.push(makeUnit(current, worldSize));
    current = [];
    bytes = 0;
  };
  for (const p of params) {
    if (current.length > 0 && current[0]!.dtype !== p.dtype) close();
    current.push(p);
    bytes += p.size * 4;
    if (bytes >= (units.length === 0 ? firstCapBytes : capBytes)) close();
  }
  close();
  return units;
}
