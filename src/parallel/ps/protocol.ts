/**
 * The messages between parameter-server workers and servers (all float32, over a PeerChannel):
 *
 * - pull, worker → server, once at the start: `[0]`.
 * - push, worker → server, each step: `[clock, lr of each param group…, gradients of the
 *   server's parameters, concatenated in the model's order]`; clock is the worker's step count
 *   after this step, so the server checks none is lost or repeated.
 * - done, worker → server, when the worker ends: `[clock]`.
 * - reply, server → worker, answering a pull or a push once the staleness bound lets the worker
 *   go on: `[clock of each worker as this server has it (−1: left), parameters…]`.
 */
export const PS_TAG = { pull: 9101, push: 9102, done: 9103, reply: 9104 } as const;

/** What a worker's clock is as a float in a reply when the worker has left (ended or died). */
export const LEFT_CLOCK = -1;
