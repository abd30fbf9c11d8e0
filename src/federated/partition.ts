import { Rng } from "../data/random.js";

/**
 * How a training set is split over federated clients: each client's sample indices (every
 * sample in exactly one client). `iid`: a shuffled equal split. `dirichlet`: per class, the
 * class's samples split by proportions drawn from Dirichlet(α) over the clients (small α: each
 * client sees few classes). `shards`: the FedAvg paper's pathological split: the samples sorted
 * by label, cut into clients × shardsPerClient equal shards, each client taking shardsPerClient
 * shards at random (2 shards: most clients see two classes).
 */
export type Partition = { kind: "iid" } | { kind: "dirichlet"; alpha: number } | { kind: "shards"; shardsPerClient: number };

/**
 * The clients' sample indices (ascending within each client) for `labels`, drawn from `seed`.
 * @example partition(labels, 10, { kind: "shards", shardsPerClient: 2 }, 0) // 10 lists of 6000 indices
 */
export function partition(labels: ArrayLike<number>, clients: number, how: Partition, seed: number): number[][] {
  const n = labels.length;
  if (!Number.isSafeInteger(clients) || clients < 1 || clients > n) throw new RangeError(`federated: clients must be 1 to ${n} (the samples), got ${clients}`);
  const rng = Rng.seeded(seed, 7);
  let parts: number[][];
  if (how.kind === "iid") {
    const order = rng.permutation(n);
    parts = Array.from({ length: clients }, (_, c) => Array.from(order.subarray(Math.floor((c * n) / clients), Math.floor(((c + 1) * n) / clients))));
  } else if (how.kind === "shards") parts = byShards(labels, clients, how.shardsPerClient, rng);
  else parts = byDirichlet(labels, clients, how.alpha, rng);
  return parts.map((p) => p.sort((a, b) => a - b));
}

function byShards(labels: ArrayLike<number>, clients: number, perClient: number, rng: Rng): number[][] {
  const n = labels.length,
    shards = clients * perClient;
  if (!Number.isSafeInteger(perClient) || perClient < 1 || shards > n)
    throw new RangeError(`federated: shardsPerClient must be 1 to ${Math.floor(n / clients)}, got ${perClient}`);
  // Sorted by label, ties by index, as the FedAvg paper sorts the digits.
  const sorted = Array.from({ length: n }, (_, i) => i).sort((a, b) => labels[a]! - labels[b]! || a - b);
  const order = rng.permutation(shards);
  return Array.from({ length: clients }, (_, c) =>
    Array.from(order.subarray(c * perClient, (c + 1) * perClient)).flatMap((s) =>
      sorted.slice(Math.floor((s * n) / shards), Math.floor(((s + 1) * n) / shards)),
    ),
  );
}

function byDirichlet(labels: ArrayLike<number>, clients: number, alpha: number, rng: Rng): number[][] {
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new RangeError(`federated: dirichlet alpha must be a positive number, got ${alpha}`);
  const parts: number[][] = Array.from({ length: clients }, () => []);
  const classes = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = classes.get(labels[i]!) ?? [];
    list.push(i);
    classes.set(labels[i]!, list);
  }
  for (const label of [...classes.keys()].sort((a, b) => a - b)) {
    const members = classes.get(label)!;
    const order = rng.permutation(members.length);
    const weights = Array.from({ length: clients }, () => gamma(alpha, rng));
    const total = weights.reduce((a, b) => a + b, 0);
    let start = 0,
      cumulative = 0;
    weights.forEach((w, c) => {
      cumulative += w;
      const end = c === clients - 1 ? members.length : Math.round((cumulative / total) * members.length);
      for (let k = start; k < end; k++) parts[c]!.push(members[order[k]!]!);
      start = end;
    });
  }
  return parts;
}

/** A Gamma(α, 1) draw (Marsaglia and Tsang; α < 1 through Gamma(α + 1) · U^(1/α)). */
function gamma(alpha: number, rng: Rng): number {
  if (alpha < 1) return gamma(alpha + 1, rng) * Math.max(rng.nextFloat(), Number.MIN_VALUE) ** (1 / alpha);
  const d = alpha - 1 / 3,
    c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const u1 = Math.max(rng.nextFloat(), Number.MIN_VALUE),
      u2 = rng.nextFloat();
    const x = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = Math.max(rng.nextFloat(), Number.MIN_VALUE);
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}
