import type { Tensor } from "../tensor/tensor.js";

/**
 * Point-to-point messages for a rank that serves many peers at once (a parameter server): it
 * asks which peer has a message waiting instead of blocking on one, sees which peers have
 * exited, and a failed send or recv (a peer that died mid-message) throws for that call only,
 * without marking the whole group failed as a collective's failure does. Uses the same
 * mailboxes as the group's send/recv, so a rank should not mix both on one pair of ranks.
 *
 * @example
 * const channel = group.peerChannel!();
 * const waiting = channel.poll(1);          // { tag: 7, bytes: 4096 } or null
 * if (waiting) channel.recv(buffer, 1, waiting.tag);
 */
export interface PeerChannel {
  /** This rank, as the group numbers it. */
  readonly rank: number;
  /** Ranks in the group. */
  readonly size: number;
  /** The tag and byte length of the next message `peer` has posted to this rank, or null when none waits. Never blocks. */
  poll(peer: number): { tag: number; bytes: number } | null;
  /** False once `peer`'s thread or process has exited (after a failure or a normal end). */
  alive(peer: number): boolean;
  /** Sends `tensor` to `peer` (eager when it fits the mailbox); throws a CollectiveError when the peer exits or the wait times out. */
  send(tensor: Tensor, peer: number, tag: number): void;
  /** Receives `peer`'s message with `tag` into `tensor` (the sizes must match); throws a CollectiveError as send does. */
  recv(tensor: Tensor, peer: number, tag: number): void;
}
