/**
 * A worker thread that calls the native kernels taking arrays of typed arrays (a multi-tensor
 * AdamW step, a collective's reduction) in an endless loop, for a test that terminates it at a
 * random moment, as the elastic launcher's tests end a rank.
 */
import { parentPort } from "node:worker_threads";

import { loadNative } from "../../src/backends/native/addon.js";

const kernels = loadNative();
const count = 256;
const arrays = () => Array.from({ length: count }, () => new Float32Array(8));
const [params, grads, expAvgs, expAvgSqs] = [arrays(), arrays(), arrays(), arrays()];
const lows = new Array<null>(count).fill(null);
// Per parameter: lr, beta1, beta2, eps, weight decay, step, decoupled.
const hyper = new Float64Array(Array.from({ length: count }, () => [1e-3, 0.9, 0.999, 1e-8, 0, 1, 1]).flat());
const sum = kernels.collectiveCodes().sum;
parentPort!.postMessage("looping");
for (;;) {
  kernels.adamStepMulti(params, grads, expAvgs, expAvgSqs, lows, hyper);
  kernels.collectiveReduce(0, sum, grads, expAvgs, 1);
}
