import type { ProcessGroup } from "./process_group.js";

/** The degrees of the parallel dimensions; data × tensor × pipeline is the number of ranks. */
export interface MeshShape {
  data: number;
  tensor: number;
  pipeline: number;
  /** Expert-parallel degree: groups of this many consecutive data ranks (it divides data). */
  expert: number;
}

/** A rank's place in the mesh: one index per dimension (expert: its index inside its expert group). */
export type MeshCoords = MeshShape;

/** The dimensions a mesh has sub-groups for. */
export const MESH_DIMS = ["data", "tensor", "pipeline", "expert"] as const;
export type MeshDim = (typeof MESH_DIMS)[number];

/**
 * The shape a job of `ranks` ranks gets from the degrees asked for: data defaults to
 * ranks / (tensor × pipeline) and expert to 1. Throws a RangeError naming the numbers when
 * data × tensor × pipeline is not the number of ranks or expert does not divide data.
 *
 * @example meshShape(8, { tensor: 2, pipeline: 2 })   // { data: 2, tensor: 2, pipeline: 2, expert: 1 }
 */
export function meshShape(ranks: number, asked: Partial<MeshShape>): MeshShape {
  const tensor = asked.tensor ?? 1,
    pipeline = asked.pipeline ?? 1,
    expert = asked.expert ?? 1;
  for (const [name, v] of Object.entries({ tensor, pipeline, expert, ...(asked.data === undefined ? {} : { data: asked.data }) })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`parallel.${name} must be a positive integer, got ${v}`);
  }
  const data = asked.data ?? ranks / (tensor * pipeline);
  if (!Number.isInteger(data) || data * tensor * pipeline !== ranks) {
    const dataText = asked.data === undefined ? "" : `data ${asked.data} × `;
    throw new RangeError(
      `parallel: ${dataText}tensor ${tensor} × pipeline ${pipeline} = ${(asked.data ?? 1) * tensor * pipeline} does not ` +
        `${asked.data === undefined ? "divide" : "equal"} the ${ranks} ranks of the job`,
    );
  }
  if (data % expert !== 0) throw new RangeError(`parallel.expert ${expert} must divide the data-parallel degree ${data}`);
  return { data, tensor, pipeline, expert };
}

/**
 * The ranks of a job laid out as a grid of data × pipeline × tensor, with tensor the fastest
 * dimension (rank = tensor + T·(data + D·pipeline), Megatron's order): a tensor-parallel group
 * is consecutive ranks, which mpirun places on one machine, because its all-reduces run in
 * every layer; the pipeline dimension, which only passes activations between neighbours, is
 * the slowest. Expert groups are `expert` consecutive data ranks (expert parallelism inside
 * the data dimension). Each rank gets its coordinates and one process sub-group per dimension,
 * made with `newGroup` (so building a mesh is a collective call on every rank of `group`).
 *
 * @example
 * const mesh = DeviceMesh.build(group, meshShape(group.size, { tensor: 2, pipeline: 2 }));
 * mesh.groups.tensor.allReduce(partial, "sum");   // among this rank's tensor-parallel peers
 * mesh.coords.pipeline                             // this rank's pipeline stage
 */
export class DeviceMesh {
  private constructor(
    readonly group: ProcessGroup,
    readonly shape: MeshShape,
    readonly coords: MeshCoords,
    readonly groups: Record<MeshDim, ProcessGroup>,
  ) {}

  /** The global rank at `coords` (the expert coordinate is ignored: it is part of data). */
  static rankAt(shape: MeshShape, coords: Omit<MeshCoords, "expert">): number {
    return coords.tensor + shape.tensor * (coords.data + shape.data * coords.pipeline);
  }

  /** The coordinates of global rank `rank`. */
  static coordsOf(shape: MeshShape, rank: number): MeshCoords {
    const tensor = rank % shape.tensor,
      data = Math.floor(rank / shape.tensor) % shape.data,
      pipeline = Math.floor(rank / (shape.tensor * shape.data));
    return { data, tensor, pipeline, expert: data % shape.expert };
  }

  /**
   * Every sub-group of one dimension, as lists of global ranks in the order of the dimension's
   * index (the same lists on every rank).
   * @example DeviceMesh.groupsOf({ data: 2, tensor: 2, pipeline: 1, expert: 1 }, "tensor")   // [[0, 1], [2, 3]]
   */
  static groupsOf(shape: MeshShape, dim: MeshDim): number[][] {
    const size = shape.data * shape.tensor * shape.pipeline;
    const byKey = new Map<string, number[]>();
    for (let rank = 0; rank < size; rank++) {
      const c = DeviceMesh.coordsOf(shape, rank);
      const key =
        dim === "expert" ? [c.tensor, c.pipeline, Math.floor(c.data / shape.expert)] : MESH_DIMS.filter((d) => d !== dim && d !== "expert").map((d) => c[d]);
      const k = key.join(",");
      byKey.set(k, [...(byKey.get(k) ?? []), rank]);
    }
    return [...byKey.values()];
  }

  /**
   * Lays `group`'s ranks out as `shape` and makes this rank's sub-groups (a collective call:
   * every rank of `group` builds the same mesh at the same point).
   */
  static build(group: ProcessGroup, shape: MeshShape): DeviceMesh {
    const checked = meshShape(group.size, shape);
    const groups = {} as Record<MeshDim, ProcessGroup>;
    for (const dim of MESH_DIMS) {
      for (const ranks of DeviceMesh.groupsOf(checked, dim)) {
        const sub = ranks.length === group.size ? group : group.newGroup(ranks);
        if (sub !== null && ranks.includes(group.rank)) groups[dim] = sub;
      }
    }
    return new DeviceMesh(group, checked, DeviceMesh.coordsOf(checked, group.rank), groups);
  }
}
