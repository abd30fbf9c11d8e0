/**
 * The backend the ops run on, chosen once per thread from `TURBINE_BACKEND` (`native`, the
 * default: the C++ addon; `js`: every kernel in plain TypeScript), and the op codes it defines.
 * Everything above this layer calls `kernels.<name>(...)`; only src/backends/native loads the addon.
 *
 * @example
 * import { kernels } from "../backends/index.js";
 * kernels.cast(DTYPES.float32.code, src, DTYPES.bfloat16.code, dst);
 */
import { KERNEL_NAMES, type Kernels } from "./kernels.js";
import { backendKernels, registerBackend, registeredBackends } from "./registry.js";
import { jsKernels } from "./js/index.js";
import { loadNative } from "./native/addon.js";

registerBackend("native", loadNative);
registerBackend("js", () => jsKernels);

function chosenBackend(): string {
  const name = process.env.TURBINE_BACKEND ?? "native";
  if (!registeredBackends().includes(name)) {
    throw new Error(`TURBINE_BACKEND=${name} is not a backend; expected one of ${registeredBackends().join(", ")}`);
  }
  return name;
}

/** The name of the backend this thread runs on. */
export const backendName: string = chosenBackend();

/** The kernels of the chosen backend. */
export const kernels: Kernels = backendKernels(backendName, KERNEL_NAMES);

/** Op codes the chosen backend defines, read once from it so they are never duplicated. */
export const codes = {
  unary: kernels.unaryCodes().forward,
  unaryBackward: kernels.unaryCodes().backward,
  binary: kernels.binaryCodes(),
  reduce: kernels.reduceCodes(),
  collective: kernels.collectiveCodes(),
};

export { backendKernels, getKernel, registerBackend, registeredBackends } from "./registry.js";
export { KERNEL_NAMES, type KernelName, type Kernels } from "./kernels.js";
export { loadNative } from "./native/addon.js";
export { nativeStopSignals, type StopSignals } from "./native/stop_signals.js";
export type { TypedArray } from "./dtype.js";
