import type { Module } from "../../nn/module.js";
import type { GradScaler } from "../../optim/grad_scaler.js";
import type { Optimizer } from "../../optim/optimizer.js";
import { fromTypedArray } from "../../tensor/create.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { PeerChannel } from "../peer_channel.js";
import { CollectiveError } from "../process_group.js";
import { ReplicatedStrategy } from "../strategy.js";
import type { PsLayout } from "./layout.js";
import { PS_TAG } from "./protocol.js";
import { ShardBuffer } from "./shard_buffer.js";

/** What a worker saw when the servers let it start a step: the staleness bound's evidence. */
export interface PullRecord {
  /** This worker's group rank. */
  worker: number;
  /** The step it may now start (1 for the first), i.e. steps completed + 1. */
  step: number;
  /** Each worker's completed steps as the servers had them (the least over servers); −1 for a worker that has left. */
  clocks: number[];
}

/** A server rank that exited: the job cannot go on without its shard of the parameters. */
export class ParameterServerError extends Error {
  constructor(
    readonly server: number,
    cause: Error,
  ) {
    super(`parameter server rank ${server} failed (${cause.message}); the workers cannot train without its shard of the parameters`);
    this.name = "ParameterServerError";
  }
}

/**
 * A worker of a parameter-server job, as a Strategy: backward is local; `step` pushes the
 * gradients (each server its shard, with the learning rates of the optimizer's groups, so a
 * schedule on the worker drives the servers' optimizers), then pulls the shards back once the
 * servers' staleness bound lets it start its next step, and copies them into the model. The
 * worker's own optimizer never steps: its state lives on the servers. Clipping and the gradient
 * norm are the worker's own gradient's. A server that exits ends the worker with a
 * ParameterServerError naming it. `dispose` tells the servers this worker has ended, so the
 * bound stops waiting for it. Checkpoints (written by the first worker) hold the model as last
 * pulled, not the servers' optimizer state.
 *
 * @example
 * const strategy = new ParameterServerWorker(model, group.peerChannel!(), psLayout(group.size, 1, sizes));
 * strategy.backward(loss);
 * strategy.step(optimizer);   // push, wait for the bound, pull
 */
export class ParameterServerWorker extends ReplicatedStrategy {
  private readonly shards: ShardBuffer[];
  private readonly pushes: Tensor[];
  private readonly replies: Tensor[];
  private clock = 0;
  private ended = false;

  constructor(
    module: Module,
    private readonly channel: PeerChannel,
    private readonly roles: PsLayout,
    private readonly options: { onPull?: (record: PullRecord) => void } = {},
  ) {
    super(module);
    if (!roles.workers.includes(channel.rank))
      throw new RangeError(`ParameterServerWorker: rank ${channel.rank} is not one of the workers ${JSON.stringify(roles.workers)}`);
    this.shards = roles.servers.map((_, i) => ShardBuffer.of(module, roles, i));
    this.pushes = [];
    const w = roles.workers.length;
    this.replies = this.shards.map((s) => fromTypedArray(new Float32Array(w + s.elements), [w + s.elements], "float32", "other"));
    // The servers' initial parameters, whatever this rank's model was built with.
    const pull = fromTypedArray(new Float32Array([0]), [1], "float32", "other");
    this.exchange(() => pull, PS_TAG.pull);
  }

  backward(loss: Tensor): void {
    loss.backward();
  }

  override step(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void {
    if (gradScaler) throw new Error("parameter server: loss scaling (float16) is not supported; use train.precision float32 or bfloat16");
    const groups = optimizer.paramGroups;
    if (this.pushes.length === 0)
      for (const s of this.shards)
        this.pushes.push(fromTypedArray(new Float32Array(1 + groups.length + s.elements), [1 + groups.length + s.elements], "float32", "other"));
    this.clock++;
    this.exchange((i) => {
      const data = this.pushes[i]!.toHost() as Float32Array;
      data[0] = this.clock;
      groups.forEach((g, j) => (data[1 + j] = g.lr));
      this.shards[i]!.gather(
        data.subarray(1 + groups.length),
        this.shards[i]!.params.map((p) => p.grad),
      );
      return this.pushes[i]!;
    }, PS_TAG.push);
  }

  /** Sends every server its message, then takes each reply into the model (servers work at once). */
  private exchange(message: (server: number) => Tensor, tag: number): void {
    const servers = this.roles.servers;
    this.guard(() => servers.forEach((rank, i) => this.channel.send(message(i), rank, tag)));
    const clocks = new Array<number>(this.roles.workers.length).fill(Infinity);
    this.guard(() =>
      servers.forEach((rank, i) => {
        this.channel.recv(this.replies[i]!, rank, PS_TAG.reply);
        const data = this.replies[i]!.toHost() as Float32Array;
        for (let w = 0; w < clocks.length; w++) clocks[w] = Math.min(clocks[w]!, data[w]!);
        this.shards[i]!.scatter(data.subarray(clocks.length));
      }),
    );
    this.options.onPull?.({ worker: this.channel.rank, step: this.clock + 1, clocks });
  }

  /** Runs `fn`, turning a failed exchange with a server into a ParameterServerError naming it. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      if (error instanceof CollectiveError && error.peer !== null && this.roles.servers.includes(error.peer)) throw new ParameterServerError(error.peer, error);
      throw error;
    }
  }

  protected get writes(): boolean {
    return this.channel.rank === this.roles.workers[0];
  }

  protected get layout(): string {
    return "ps";
  }

  /** Tells every server this worker has ended (a server that is already gone is skipped). */
  override dispose(): void {
    if (this.ended) return;
    this.ended = true;
    const done = fromTypedArray(new Float32Array([this.clock]), [1], "float32", "other");
    for (const rank of this.roles.servers) {
      try {
        if (this.channel.alive(rank)) this.channel.send(done, rank, PS_TAG.done);
      } catch (error) {
        if (!(error instanceof CollectiveError)) throw error;
      }
    }
  }
}
