/**
 * Gradient compression as DDP communication hooks: bf16, top-k, PowerSGD and 1-bit, the last
 * three with error feedback. `hookFor` makes one from `parallel.compression`. 1-bit Adam
 * (`OneBitAdam` with its strategy `OneBitAdamDataParallel`) compresses the momentum instead.
 *
 * @example
 * const hook = parallel.compression.hookFor({ kind: "powersgd", ratio: 0.01, rank: 4 });
 * new parallel.DistributedDataParallel(model, group, { hook });
 */
import { Bf16Hook } from "./bf16.js";
import type { CommunicationHook } from "./hook.js";
import { OneBitHook } from "./onebit.js";
import { PowerSGDHook } from "./powersgd.js";
import { TopKHook } from "./topk.js";

export { Bf16Hook, OneBitHook, PowerSGDHook, TopKHook };
export { OneBitAdam, type OneBitAdamOptions } from "./onebit_adam.js";
export { OneBitAdamDataParallel } from "./onebit_adam_strategy.js";
export { OneBitAllReduce } from "./onebit_allreduce.js";
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
  /** Optimizer steps all-reduced uncompressed first (DDPOptions.hookWarmupSteps); hookFor does not read it. */
  warmupSteps?: number;
}

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
