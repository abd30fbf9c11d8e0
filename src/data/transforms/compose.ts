import { cropShape, makeRandomCrop, type RandomCropSpec } from "./crop.js";
import { makeRandomErasing, type RandomErasingSpec } from "./erase.js";
import { makeRandomHorizontalFlip, type RandomHorizontalFlipSpec } from "./flip.js";
import type { ImageSample, SampleTransform } from "./image.js";
import { makeNormalize, type NormalizeSpec } from "./normalize.js";

/**
 * A transform described as plain data, so it can be validated in a config file and sent to
 * worker threads (functions cannot cross threads); `buildTransform` turns it into code.
 */
export type TransformSpec = NormalizeSpec | RandomCropSpec | RandomHorizontalFlipSpec | RandomErasingSpec;

/** The transform kinds, for error messages and the config schema. */
export const TRANSFORM_KINDS = ["normalize", "randomCrop", "randomHorizontalFlip", "randomErasing"] as const;

/** A built transform and the shape of the samples it makes. */
export interface BuiltTransform {
  apply: SampleTransform<ImageSample>;
  shape: readonly number[] | undefined;
}

function buildOne(spec: TransformSpec, shape: readonly number[] | undefined): BuiltTransform {
  switch (spec?.kind) {
    case "normalize":
      return { apply: makeNormalize(spec, shape), shape };
    case "randomCrop":
      return { apply: makeRandomCrop(spec, shape), shape: cropShape(spec, shape!) };
    case "randomHorizontalFlip":
      return { apply: makeRandomHorizontalFlip(spec, shape), shape };
    case "randomErasing":
      return { apply: makeRandomErasing(spec, shape), shape };
    default:
      throw new RangeError(
        `transform: unknown kind ${JSON.stringify((spec as { kind?: unknown } | null)?.kind)}, expected one of ${TRANSFORM_KINDS.join(", ")}`,
      );
  }
}

/**
 * Builds a transform, or a list of them applied in order (torchvision's Compose), for samples
 * of `shape`. Each draws from the sample's own stream in list order, so a sample's result
 * depends only on (seed, epoch, position), not on the thread that runs it.
 *
 * @example
 * const t = buildTransform([{ kind: "randomCrop", padding: 2 }, { kind: "randomHorizontalFlip" }], [1, 28, 28]);
 * const out = t.apply(train.get(0), { rng: Rng.forSample(0, 0, 0), shape: [1, 28, 28] });
 */
export function buildTransform(specs: TransformSpec | readonly TransformSpec[], shape: readonly number[] | undefined): BuiltTransform {
  const list = Array.isArray(specs) ? (specs as readonly TransformSpec[]) : [specs as TransformSpec];
  const steps: SampleTransform<ImageSample>[] = [];
  const shapes: (readonly number[] | undefined)[] = [];
  let current = shape;
  for (const spec of list) {
    const built = buildOne(spec, current);
    steps.push(built.apply);
    shapes.push(current);
    current = built.shape;
  }
  return {
    apply: (sample, context) => steps.reduce((s, step, k) => step(s, { rng: context.rng, shape: shapes[k]!, output: context.output }), sample),
    shape: current,
  };
}
