/**
 * One rank of the device-mesh tests (threads and mpi): builds the mesh of each shape asked for
 * and, for every dimension, all-reduces the global ranks over this rank's sub-group, so the
 * test sees which ranks each sub-group really joined (not only what the mesh says it holds).
 */
import { DeviceMesh, MESH_DIMS, type MeshDim, type MeshShape } from "../../src/parallel/mesh.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { tensor } from "../../src/tensor/create.js";

export interface MeshRankResult {
  coords: MeshShape;
  /** Per shape and dimension: the sum and the count of the global ranks in this rank's sub-group, and its size. */
  groups: Record<MeshDim, { rankSum: number; count: number; size: number; rank: number }>;
}

export function run(group: ProcessGroup, { shapes }: { shapes: MeshShape[] }): MeshRankResult[] {
  return shapes.map((shape) => {
    const mesh = DeviceMesh.build(group, shape);
    const groups = {} as MeshRankResult["groups"];
    for (const dim of MESH_DIMS) {
      const sub = mesh.groups[dim];
      const probe = tensor([group.rank, 1]);
      sub.allReduce(probe, "sum");
      const [rankSum, count] = probe.toArray() as [number, number];
      groups[dim] = { rankSum, count, size: sub.size, rank: sub.rank };
    }
    return { coords: mesh.coords, groups };
  });
}
