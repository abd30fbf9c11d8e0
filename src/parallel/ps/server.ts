import { performance } from "node:perf_hooks";

import type { Module } from "../../nn/module.js";
import type { Optimizer } from "../../optim/optimizer.js";
import { fromTypedArray } from "../../tensor/create.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { PeerChannel } from "../peer_channel.js";
import { CollectiveError } from "../process_group.js";
import type { PsLayout } from "./layout.js";
import { LEFT_CLOCK, PS_TAG } from "./protocol.js";
import { ShardBuffer } from "./shard_buffer.js";

/** How a worker stands with a server: training, ended (it said done) or gone (its rank exited without saying so). */
type WorkerStatus = "training" | "ended" | "gone";

/** What a server did, when it returns (every worker ended or gone). */
export interface ServeResult {
  /** Gradients received. */
  pushes: number;
  /** Optimizer steps applied to this server's shard. */
  steps: number;
  /** Workers whose rank exited without ending (group ranks). */
  gone: number[];
}

/** Busy polls before the loop sleeps between checks of the mailboxes. */
const SPINS = 200;

/**
 * One parameter server: holds its shard of the parameters (the model's parameters `layout`
 * gives it; the others are never touched) with their optimizer state, and serves the workers
 * over a PeerChannel until every one has ended or gone. A push is a worker's gradient for its
 * next step; a pull (the reply to a push, or the first one) waits until the stale-synchronous
 * bound holds: with staleness k, a worker that has completed c steps may start step c + 1 only
 * when every worker still training has completed at least c − k (Ho et al.'s SSP; workers that
 * ended or died do not count). With k = 0 the server steps once per clock on the mean of the
 * workers' gradients, so training equals data parallel on the union of their batches; with
 * k > 0 (or Infinity: fully asynchronous) each gradient is applied as its own step when it
 * arrives, with the learning rates the worker sent. A server waits at most the group's timeout
 * for any message while workers train, then fails naming the silent ranks: it never hangs.
 *
 * @example
 * const server = new ParameterServer(group.peerChannel!(), model, optimizer, layout, { staleness: 2, timeoutMs: group.timeoutMs });
 * const { pushes } = server.serve();
 */
export class ParameterServer {
  private readonly shard: ShardBuffer;
  private readonly clock: number[];
  private readonly status: WorkerStatus[];
  private readonly awaiting: boolean[];
  /** k = 0: the workers whose gradient for the current clock is summed into the shard's gradients. */
  private readonly summed = new Set<number>();
  private readonly grads: Tensor[];
  private readonly push: Tensor;
  private readonly header: Tensor;
  private readonly reply: Tensor;
  private pushes = 0;
  private steps = 0;

  constructor(
    private readonly channel: PeerChannel,
    model: Module,
    private readonly optimizer: Optimizer<any>,
    private readonly layout: PsLayout,
    private readonly options: { staleness: number; timeoutMs: number },
  ) {
    const index = layout.servers.indexOf(channel.rank);
    if (index < 0) throw new RangeError(`ParameterServer: rank ${channel.rank} is not one of the servers ${JSON.stringify(layout.servers)}`);
    this.shard = ShardBuffer.of(model, layout, index);
    const n = this.shard.elements,
      w = layout.workers.length;
    this.clock = new Array<number>(w).fill(0);
    this.status = new Array<WorkerStatus>(w).fill("training");
    this.awaiting = new Array<boolean>(w).fill(false);
    this.grads = this.shard.params.map((p) => fromTypedArray(new Float32Array(p.size), p.shape, "float32", "gradient"));
    const groups = optimizer.paramGroups.length;
    this.push = fromTypedArray(new Float32Array(1 + groups + n), [1 + groups + n], "float32", "other");
    this.header = fromTypedArray(new Float32Array(1), [1], "float32", "other");
    this.reply = fromTypedArray(new Float32Array(w + n), [w + n], "float32", "other");
  }

  /** Serves until every worker has ended or gone; returns what it did. */
  serve(): ServeResult {
    let lastMessage = performance.now(),
      idle = 0;
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    while (this.status.includes("training")) {
      let progressed = false;
      for (let w = 0; w < this.status.length; w++) {
        if (this.status[w] !== "training") continue;
        const rank = this.layout.workers[w]!;
        const waiting = this.channel.poll(rank);
        if (waiting) {
          this.receive(w, waiting.tag);
          progressed = true;
        } else if (!this.channel.alive(rank)) {
          this.leave(w, "gone");
          progressed = true;
        }
      }
      if (this.answer()) progressed = true;
      if (progressed) {
        lastMessage = performance.now();
        idle = 0;
      } else if (performance.now() - lastMessage > this.options.timeoutMs) {
        const silent = this.layout.workers.filter((_, w) => this.status[w] === "training");
        throw new CollectiveError(
          "serve",
          this.channel.rank,
          silent[0]!,
          `parameter server: no message from worker ranks ${silent.join(", ")} for ${this.options.timeoutMs} ms`,
        );
      } else if (idle++ > SPINS) Atomics.wait(sleeper, 0, 0, 1);
    }
    return { pushes: this.pushes, steps: this.steps, gone: this.layout.workers.filter((_, w) => this.status[w] === "gone") };
  }

  private receive(w: number, tag: number): void {
    const rank = this.layout.workers[w]!;
    const message = tag === PS_TAG.push ? this.push : this.header;
    try {
      this.channel.recv(message, rank, tag);
    } catch (error) {
      if (!(error instanceof CollectiveError)) throw error;
      this.leave(w, "gone");
      return;
    }
    const data = message.toHost() as Float32Array;
    if (tag === PS_TAG.pull) this.awaiting[w] = true;
    else if (tag === PS_TAG.done) this.leave(w, "ended");
    else if (tag === PS_TAG.push) {
      if (data[0] !== this.clock[w]! + 1)
        throw new Error(`parameter server rank ${this.channel.rank}: worker rank ${rank} pushed clock ${data[0]} after clock ${this.clock[w]}`);
      this.pushes++;
      this.clock[w]!++;
      this.awaiting[w] = true;
      this.apply(w, data);
    } else throw new Error(`parameter server rank ${this.channel.rank}: unknown message tag ${tag} from worker rank ${rank}`);
  }

  /** k = 0: adds the gradient to the clock's sum, stepping once every worker training has pushed; k > 0: one step now. */
  private apply(w: number, data: Float32Array): void {
    const groups = this.optimizer.paramGroups;
    groups.forEach((g, i) => (g.lr = data[1 + i]!));
    const gradients = data.subarray(1 + groups.length);
    if (this.options.staleness > 0) {
      this.shard.scatter(gradients, this.grads, false);
      this.step(1);
      return;
    }
    this.shard.scatter(gradients, this.grads, this.summed.size > 0);
    this.summed.add(w);
    this.stepWhenComplete();
  }

  /** k = 0: the clock's step, once every worker still training has pushed its gradient. */
  private stepWhenComplete(): void {
    if (this.summed.size === 0 || this.status.some((s, w) => s === "training" && !this.summed.has(w))) return;
    this.step(1 / this.summed.size);
    this.summed.clear();
  }

  private step(scale: number): void {
    this.shard.params.forEach((p, i) => {
      const g = this.grads[i]!;
      if (scale !== 1) {
        const values = g.toHost() as Float32Array;
        for (let j = 0; j < values.length; j++) values[j]! *= scale;
      }
      p.grad = g;
    });
    this.optimizer.step();
    for (const p of this.shard.params) p.grad = null;
    this.steps++;
  }

  private leave(w: number, why: "ended" | "gone"): void {
    this.status[w] = why;
    this.awaiting[w] = false;
    if (this.options.staleness === 0) this.stepWhenComplete();
  }

  /** Replies to every waiting worker the staleness bound lets go on; true when any was answered. */
  private answer(): boolean {
    const training = this.clock.filter((_, w) => this.status[w] === "training");
    const slowest = Math.min(...training);
    let answered = false;
    for (let w = 0; w < this.awaiting.length; w++) {
      if (!this.awaiting[w] || this.clock[w]! - this.options.staleness > slowest) continue;
      const data = this.reply.toHost() as Float32Array;
      this.clock.forEach((c, v) => (data[v] = this.status[v] === "training" ? c : LEFT_CLOCK));
      this.shard.gather(data.subarray(this.clock.length));
      this.awaiting[w] = false;
      answered = true;
      try {
        this.channel.send(this.reply, this.layout.workers[w]!, PS_TAG.reply);
      } catch (error) {
        if (!(error instanceof CollectiveError)) throw error;
        this.leave(w, "gone");
      }
    }
    return answered;
  }
}
