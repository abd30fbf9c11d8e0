/**
 * The parameter server (`parallel.mode: "ps"`): the last `parallel.servers` ranks hold the
 * parameters, sharded whole by size, and apply the optimizer; the other ranks train and push
 * gradients / pull parameters over a PeerChannel, bounded by `parallel.staleness` (0:
 * synchronous, equal to data parallel; k: stale-synchronous; Infinity: fully asynchronous).
 *
 * @example
 * const layout = psLayout(group.size, 1, model.parameters().map((p) => p.size));
 * if (layout.servers.includes(group.rank)) new ParameterServer(group.peerChannel!(), model, optimizer, layout, { staleness: 2, timeoutMs: 60_000 }).serve();
 * else strategy = new ParameterServerWorker(model, group.peerChannel!(), layout);
 */
export { psLayout, type PsLayout } from "./layout.js";
export { ParameterServer, type ServeResult } from "./server.js";
export { ParameterServerWorker, ParameterServerError, type PullRecord } from "./worker.js";
export { ShardBuffer } from "./shard_buffer.js";
export { PS_TAG, LEFT_CLOCK } from "./protocol.js";
