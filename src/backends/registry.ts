/**
 * The kernel registry, keyed by (backend, kernel), in the manner of TensorFlow.js's: a backend
 * registers a loader that returns its kernels, so a backend costs nothing until it is chosen (the
 * js backend runs where the addon was never built). `backendKernels(name)` gives a table with
 * every kernel of the interface: a kernel the backend lacks throws, naming the kernel and the
 * backend, when it is called. The table is built once, so ops pay one property read per call.
 */
import type { KernelName, Kernels } from "./kernels.js";

type Loader = () => Partial<Kernels>;

const loaders = new Map<string, Loader>();
const loaded = new Map<string, Partial<Kernels>>();
const tables = new Map<string, Kernels>();

/**
 * Registers a backend by name: `load` runs the first time its kernels are asked for.
 * @example registerBackend("js", () => jsKernels);
 */
export function registerBackend(name: string, load: Loader): void {
  if (loaders.has(name)) throw new Error(`backends: a backend named ${JSON.stringify(name)} is already registered`);
  loaders.set(name, load);
}

/** The names of the registered backends. @example registeredBackends() // ["native", "js"] */
export function registeredBackends(): string[] {
  return [...loaders.keys()];
}

function load(backend: string): Partial<Kernels> {
  let kernels = loaded.get(backend);
  if (kernels === undefined) {
    const loader = loaders.get(backend);
    if (loader === undefined) throw new Error(`backends: unknown backend ${JSON.stringify(backend)}; registered: ${registeredBackends().join(", ")}`);
    kernels = loader();
    loaded.set(backend, kernels);
  }
  return kernels;
}

/**
 * One kernel of one backend, or null where the backend does not implement it.
 * @example getKernel("js", "matmul")
 */
export function getKernel<K extends KernelName>(backend: string, kernel: K): Kernels[K] | null {
  return load(backend)[kernel] ?? null;
}

/**
 * Every kernel of a backend, as one table (built once per backend). `names` lists the interface's
 * kernels: a missing one becomes a function that throws naming the kernel and the backend.
 * @example backendKernels("js", KERNEL_NAMES).matmul(a, b, c, null, 0, 0, meta)
 */
export function backendKernels(backend: string, names: readonly KernelName[]): Kernels {
  let table = tables.get(backend);
  if (table === undefined) {
    const kernels = load(backend);
    const entries = names.map((name) => [name, kernels[name] ?? missing(backend, name)] as const);
    table = Object.fromEntries(entries) as unknown as Kernels;
    tables.set(backend, table);
  }
  return table;
}

function missing(backend: string, kernel: KernelName): () => never {
  return () => {
    throw new Error(`${kernel}: not implemented on the ${backend} backend`);
  };
}
