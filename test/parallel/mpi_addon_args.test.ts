// The mpi addon reads its arguments with the main addon's checks (native/args.h): a wrong
// argument is a TypeError or Error naming the operation and the argument, never a crash. No
// mpirun is needed: argument types are checked before the communicator, so these calls fail
// before MPI would be touched (MPI is never initialised in this process).
import assert from "node:assert/strict";
import { test } from "node:test";

import { loadMpiAddon, type MpiAddon } from "../../src/parallel/mpi/addon.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";

const skip = skipIfMissing(missingMpi());
const addon = (): Record<string, (...args: unknown[]) => unknown> => loadMpiAddon() as unknown as MpiAddon & Record<string, (...args: unknown[]) => unknown>;
const f32 = new Float32Array(4);

test("mpi addon: an argument of the wrong JavaScript type is a TypeError naming the op and the argument", { skip }, () => {
  const mpi = addon();
  const cases: [() => unknown, RegExp][] = [
    [() => mpi.allReduce!("0", f32, 0, 0, false), /^mpi allReduce: argument 'comm' must be a number$/],
    [() => mpi.allReduce!(0, new Float64Array(4), 0, 0, false), /^mpi allReduce: 'data' is a Float64Array, but dtype float32 is stored in a Float32Array$/],
    [() => mpi.allReduce!(0, [1, 2], 0, 0, false), /^mpi allReduce: argument 'data' must be a typed array$/],
    [() => mpi.allReduce!(0, f32, 0, 0, 1), /^mpi allReduce: argument 'async' must be a boolean$/],
    [() => mpi.reduceScatter!(0, f32, new Uint16Array(8), 0, 0, false), /^mpi reduceScatter: 'input' is a Uint16Array/],
    [() => mpi.allGather!(0, new Int32Array(8), f32, 3, false), /^mpi allGather: 'input' is a Float32Array, but dtype int32 is stored in a Int32Array$/],
    [() => mpi.broadcast!(0, f32, 0, null, false), /^mpi broadcast: argument 'root' must be a number$/],
    [() => mpi.send!(0, f32, 0, 1, "tag", false), /^mpi send: argument 'tag' must be a number$/],
    [() => mpi.recv!(0, f32, 0, {}, 0, false), /^mpi recv: argument 'peer' must be a number$/],
    [() => mpi.split!(0, "red", 0), /^mpi newGroup: argument 'color' must be a number$/],
    [() => mpi.wait!(0, "1s"), /^mpi wait: argument 'timeoutMs' must be a number$/],
    [() => mpi.take!(undefined), /^mpi take: argument 'request' must be a number$/],
  ];
  for (const [call, message] of cases) {
    assert.throws(call, (e: unknown) => e instanceof TypeError && message.test(e.message), String(message));
  }
});

test("mpi addon: a wrong count or value is an Error naming the op and what was expected", { skip }, () => {
  const mpi = addon();
  assert.throws(() => mpi.allReduce!(0, f32), /^Error: mpi allReduce: expected 5 arguments, got 2$/);
  assert.throws(() => mpi.barrier!(), /^Error: mpi barrier: expected 2 arguments, got 0$/);
  assert.throws(() => mpi.allReduce!(0, f32, 7, 0, false), /^Error: mpi allReduce: 'dtype' is not a dtype code \(0\.\.3\): 7$/);
  assert.throws(() => mpi.allReduce!(0, f32, 0, 9, false), /^Error: mpi allReduce: unknown reduce op code 9$/);
  assert.throws(() => mpi.allReduce!(0, new Int32Array(4), 3, 1, false), /^Error: mpi allReduce: mean needs a floating dtype, got int32$/);
  assert.throws(() => mpi.broadcast!(0, f32, 0, 1.5, false), /^Error: mpi broadcast: argument 'root' must be an integer, got 1\.5$/);
  // Well-typed arguments get as far as the communicator, which needs init() first.
  assert.throws(() => mpi.allReduce!(0, f32, 0, 0, false), /^Error: mpi allReduce: the mpi backend is not initialised \(or was finalised\)$/);
});
