/**
 * The loop that replays a bound program (program.ts): its calls in order, sections re-entered
 * through their wrappers. Consecutive kernel calls that are the addon's own kernels are bound
 * into one native run (native/replay.cc) and replayed in one call, with no crossing into
 * JavaScript between kernels; the rest (host writes, hooks, kernels of another backend or
 * wrapped by a tool, float16 products that widen in TypeScript) run from here one by one.
 */
import { opObserver } from "../autograd/observer.js";
import { backendName, type NativeReplayLoop, nativeReplayLoop } from "../backends/index.js";

/** One step of a replay: a kernel or host call, a section, or a native run of kernel calls. */
export interface Call {
  readonly name: string;
  readonly fn: ((...args: unknown[]) => unknown) | null;
  /** The kernel table for a kernel (its `this`), else undefined. */
  readonly self?: unknown;
  readonly args: unknown[];
  /** Whether it is a kernel call (a native run may take it). */
  readonly kernel?: boolean;
  /** A section's wrapper and body (fn is null). */
  readonly wrap?: (body: () => void) => void;
  readonly body?: readonly Call[];
  /** A native run's kernel calls, run one by one from TypeScript under the op profiler. */
  readonly members?: readonly Call[];
}

/** How many kernel calls a replay runs natively, in how many runs. */
export interface NativeCounts {
  kernels: number;
  runs: number;
}

/** Fewest consecutive kernel calls bound into a native run (one alone gains nothing). */
const MIN_RUN = 2;

let loop: NativeReplayLoop | null | undefined;

function replayLoop(): NativeReplayLoop | null {
  if (loop === undefined) loop = backendName === "native" ? nativeReplayLoop() : null;
  return loop;
}

/**
 * `calls` with each stretch of consecutive addon kernel calls (sections' bodies too) turned
 * into one native run; `counts` adds up what was bound. Without the addon's loop, `calls`.
 * @example const replayed = withNativeRuns(calls, counts);
 */
export function withNativeRuns(calls: readonly Call[], counts: NativeCounts): Call[] {
  const native = replayLoop();
  if (!native) return [...calls];
  const out: Call[] = [];
  let stretch: Call[] = [];
  const flush = (): void => {
    if (stretch.length >= MIN_RUN) {
      const members = stretch;
      const handle = native.bind(
        members.map((c) => c.name),
        members.map((c) => c.args),
      );
      // The run keeps its members (and so their typed arrays, whose addresses it holds) referenced.
      out.push({ name: "native run", fn: () => native.run(handle), args: [], members });
      counts.kernels += members.length;
      counts.runs++;
    } else out.push(...stretch);
    stretch = [];
  };
  for (const c of calls) {
    if (c.kernel && native.runsAddonKernel(c.name, c.fn, c.args) && c.args.every(bindable)) {
      stretch.push(c);
      continue;
    }
    flush();
    out.push(c.body ? { ...c, body: withNativeRuns(c.body, counts) } : c);
  }
  flush();
  return out;
}

function bindable(arg: unknown): boolean {
  return arg === null || arg === undefined || typeof arg === "number" || typeof arg === "boolean" || ArrayBuffer.isView(arg);
}

/**
 * Runs `calls` in order; under the op profiler each kernel call shows as its kernel (a native
 * run's members are then called one by one).
 * @example runCalls(bound.calls, false);
 */
export function runCalls(calls: readonly Call[], backward: boolean): void {
  const observer = opObserver();
  for (const c of calls) {
    if (c.fn === null) {
      const body = c.body!,
        inner = backward || c.name === "backward";
      c.wrap!(() => runCalls(body, inner));
    } else if (observer) {
      if (c.members) runCalls(c.members, backward);
      else observer.around(`compiled ${c.name}`, backward ? "backward" : "forward", () => c.fn!.apply(c.self, c.args));
    } else {
      c.fn.apply(c.self, c.args);
    }
  }
}
