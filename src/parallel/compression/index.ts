/**
 * Gradient compression as DDP communication hooks: bf16, top-k, PowerSGD and 1-bit, the last
 * three with error feedback. `hookFor` makes one from `parallel.compression`. A frozen-variance
 * Adam (`FrozenVarianceAdam`, 1-bit Adam's scheme, with its strategy
 * `FrozenVarianceDataParallel`) compresses the momentum instead (`parallel.compression.target`
 * "momentum", `frozenVarianceCompression`); `OneBitAdam` is it with DeepSpeed's 1-bit all-reduce.
 *
 * @example
 * const hook = parallel.compression.hookFor({ kind: "powersgd", ratio: 0.01, rank: 4 });
 * new parallel.DistributedDataParallel(model, group, { hook });
 */
import { Bf16Hook } from "./bf16.js";
import type { CommunicationHook } from "./hook.js";
import { hookAsMomentumCompressor, type MomentumCompressor } from "./momentum_compressor.js";
import { OneBitAllReduce } from "./onebit_allreduce.js";
import type { FrozenVarianceAverage } from "./frozen_variance_adam.js";
import { OneBitHook } from "./onebit.js";
import { PowerSGDHook } from "./powersgd.js";
import { TopKHook } from "./topk.js";

export { Bf16Hook, OneBitHook, PowerSGDHook, TopKHook };
export { OneBitAdam, type OneBitAdamOptions } from "./onebit_adam.js";
export { FrozenVarianceAdam, type FrozenVarianceAdamOptions, type FrozenVarianceAverage } from "./frozen_variance_adam.js";
export { FrozenVarianceDataParallel } from "./frozen_variance_strategy.js";
export { OneBitAllReduce } from "./onebit_allreduce.js";
export { hookAsMomentumCompressor, type MomentumCompressor } from "./momentum_compressor.js";
export type { CommunicationHook, GradientBucket } from "./hook.js";

/** The compressors `parallel.compression.kind` names. */
export const COMPRESSION_KINDS = ["none", "bf16", "topk", "powersgd", "onebit"] as const;
export type CompressionKind = (typeof COMPRESSION_KINDS)[number];

/** A `parallel.compression` block. */
export interface CompressionSpec {
  kind: CompressionKind;
  /** topk: the fraction of each bucket's entries sent. */
  ratio: number;
  /** powersgd: the rank of the factors. */
  rank: number;
  /** Optimizer steps all-reduced uncompressed first (DDPOptions.hookWarmupSteps, or the freeze step of a frozen-variance Adam); hookFor does not read it. */
  warmupSteps?: number;
  /** What is compressed: the gradients (DDP's buckets, the default) or Adam's momentum after its variance freezes. */
  target?: CompressionTarget;
}

/** What `parallel.compression` compresses. */
export const COMPRESSION_TARGETS = ["gradient", "momentum"] as const;
export type CompressionTarget = (typeof COMPRESSION_TARGETS)[number];

/**
 * The hook a compression spec asks for; null for `none` (DDP's plain all-reduce).
 * @example hookFor({ kind: "topk", ratio: 0.01, rank: 4 })?.kind; // "topk"
 */
export function hookFor(spec: CompressionSpec): CommunicationHook | null {
  switch (spec.kind) {
    case "none":
      return null;
    case "bf16":
      return new Bf16Hook();
    case "topk":
      return new TopKHook({ ratio: spec.ratio });
    case "powersgd":
      return new PowerSGDHook({ rank: spec.rank });
    case "onebit":
      return new OneBitHook();
  }
}

/**
 * How a frozen-variance Adam compresses, for `target` "momentum": DeepSpeed's 1-bit all-reduce
 * on the shared momentum for onebit (1-bit Adam itself); for the others the gradient hook
 * applied to each rank's local momentum, or for top-k to its step m/√v̂ (top-k ranks entries by
 * magnitude, so it should see how far each moves its parameter; PowerSGD's low rank describes
 * the momentum of a layer, which an element-wise scaling would break).
 * @example frozenVarianceCompression({ kind: "topk", ratio: 0.01, rank: 4, target: "momentum" }).averages; // "update"
 */
export function frozenVarianceCompression(spec: CompressionSpec): { compressor: MomentumCompressor; averages: FrozenVarianceAverage } {
  const hook = hookFor(spec);
  if (hook === null) throw new RangeError('parallel.compression: target "momentum" needs a compressor; kind is "none"');
  if (spec.kind === "onebit") return { compressor: new OneBitAllReduce(), averages: "shared" };
  return { compressor: hookAsMomentumCompressor(hook), averages: spec.kind === "topk" ? "update" : "momentum" };
}
