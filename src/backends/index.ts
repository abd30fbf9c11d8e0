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

/**
 * An environment variable of the backends (TURBINE_BACKEND, TURBINE_KERNEL_TUNING) set to a value
 * it does not take: a usage error (the CLI exits 2 with the message).
 * @example throw new BackendSettingError(`TURBINE_KERNEL_TUNING must be "on" or "off", got "maybe"`);
 */
export class BackendSettingError extends Error {}

/** TURBINE_BACKEND names no registered backend. */
export class BackendChoiceError extends BackendSettingError {}

/**
 * The backend TURBINE_BACKEND (by default) names, checked against the registered ones.
 * @example chosenBackend("js") // "js"
 */
export function chosenBackend(value: string | undefined = process.env.TURBINE_BACKEND): string {
  const name = value ?? "native";
  if (!registeredBackends().includes(name)) {
    throw new BackendChoiceError(`TURBINE_BACKEND=${name} is not a backend; expected one of ${registeredBackends().join(", ")}`);
  }
  return name;
}

/**
 * A table whose every kernel throws `problem`, with empty code tables, for a thread whose backend
 * cannot be had: importing turbine still succeeds, so the CLI reports the problem in one line at
 * the first kernel call instead of a stack trace at import.
 */
function unusable(problem: unknown): Kernels {
  const table: Record<string, unknown> = {};
  for (const name of KERNEL_NAMES) {
    table[name] = () => {
      throw problem;
    };
  }
  table.unaryCodes = () => ({ forward: {}, backward: {} });
  table.binaryCodes = table.reduceCodes = table.collectiveCodes = () => ({});
  const none = { fields: {}, count: 0 };
  table.metaFields = () => ({ conv2d: none, pool2d: none, matmul: none });
  return table as unknown as Kernels;
}

function choose(): { name: string; kernels: Kernels } {
  let name = "none";
  try {
    name = chosenBackend();
    return { name, kernels: backendKernels(name, KERNEL_NAMES) };
  } catch (problem) {
    return { name, kernels: unusable(problem) };
  }
}

const chosen = choose();

/** The name of the backend this thread runs on ("none" where TURBINE_BACKEND names none). */
export const backendName: string = chosen.name;

/** The kernels of the chosen backend. */
export const kernels: Kernels = chosen.kernels;

/** Op codes the chosen backend defines, read once from it so they are never duplicated. */
export const codes = {
  unary: kernels.unaryCodes().forward,
  unaryBackward: kernels.unaryCodes().backward,
  binary: kernels.binaryCodes(),
  reduce: kernels.reduceCodes(),
  collective: kernels.collectiveCodes(),
};

/**
 * The layouts of the packed metas (conv2d, pooling, matmul) the chosen backend defines, read once.
 * @example meta[metaFields.matmul.fields.transB] = 1;
 */
export const metaFields = kernels.metaFields();

export { packMeta } from "./meta.js";
export { backendKernels, getKernel, registerBackend, registeredBackends } from "./registry.js";
export { KERNEL_NAMES, type KernelName, type Kernels } from "./kernels.js";
export type { MetaFields, MetaLayout } from "./meta.js";
export { loadNative, type NativeReplayLoop, nativeReplayLoop } from "./native/addon.js";
export { nativeStopSignals, type StopSignals } from "./native/stop_signals.js";
export type { TypedArray } from "./dtype.js";
