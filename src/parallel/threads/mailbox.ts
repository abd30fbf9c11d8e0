import { performance } from "node:perf_hooks";

import type { TypedArray } from "../../tensor/dtype.js";
import { kernels } from "../../backends/index.js";
import type { Tensor } from "../../tensor/tensor.js";
import { CollectiveError } from "../process_group.js";
import type { ThreadsWorld } from "./world.js";

/** The bytes of a typed array. */
export function bytesOf(array: TypedArray): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/**
 * Point-to-point through the ordered pair's mailbox, in pieces of the mailbox size: the
 * sender waits until the mailbox is empty, fills it and raises "posted"; the receiver waits for
 * it, checks tag and size, empties it and raises "taken". A message that fits the mailbox is
 * eager (send returns before the recv); a larger one is a rendezvous, so two ranks that both
 * send a large message before receiving fail at the timeout. `who` numbers ranks as the group
 * does (errors name those); worldPeer is the peer's rank in the job.
 * @example transfer(world, "send", t, { rank: 0, peer: 1, worldPeer: 1 }, 0);
 */
export function transfer(world: ThreadsWorld, op: "send" | "recv", tensor: Tensor, who: { rank: number; peer: number; worldPeer: number }, tag: number): void {
  const { ctl, spec, layout } = world;
  const from = op === "send" ? world.rank : who.worldPeer,
    to = op === "send" ? who.worldPeer : world.rank;
  const words = layout.mailbox + 4 * (from * spec.size + to);
  const [posted, taken, tagWord, bytesWord] = [words, words + 1, words + 2, words + 3];
  const box = new Uint8Array(spec.mail, (from * spec.size + to) * spec.mailboxBytes, spec.mailboxBytes);
  const bytes = bytesOf(tensor.toHost()),
    error = { op, rank: who.rank, peer: who.peer };
  const timeoutMs = spec.timeoutMs;
  for (let start = 0; start === 0 || start < bytes.length; start += spec.mailboxBytes) {
    const piece = bytes.subarray(start, start + spec.mailboxBytes),
      deadline = performance.now() + timeoutMs;
    if (op === "send") {
      const count = Atomics.load(ctl, posted);
      world.waitAtLeast(taken, count, who.worldPeer, deadline, error);
      kernels.copyBytes(box.subarray(0, piece.length), piece);
      Atomics.store(ctl, tagWord, tag);
      Atomics.store(ctl, bytesWord, bytes.length);
      world.signal(posted, count + 1);
    } else {
      const count = Atomics.load(ctl, taken);
      world.waitAtLeast(posted, count + 1, who.worldPeer, deadline, error);
      const [sentTag, sentBytes] = [Atomics.load(ctl, tagWord), Atomics.load(ctl, bytesWord)];
      if (sentTag !== tag || sentBytes !== bytes.length) {
        throw new CollectiveError(
          op,
          who.rank,
          who.peer,
          `expected tag ${tag} with ${bytes.length} bytes, rank ${who.peer} sent tag ${sentTag} with ${sentBytes} bytes`,
        );
      }
      kernels.copyBytes(piece, box.subarray(0, piece.length));
      world.signal(taken, count + 1);
    }
  }
}
