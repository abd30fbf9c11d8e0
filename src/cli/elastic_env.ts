/**
 * What `turbine launch --max-restarts` tells each rank of a segment (one start of the job)
 * through the environment, on both backends: the run folder the launcher made or continues,
 * and on a restart the checkpoint to resume from.
 */

import { z } from "zod";

import { UsageError } from "./errors.js";

/** The variable holding a segment's JSON. */
export const ELASTIC_ENV = "TURBINE_ELASTIC";

/** One segment of an elastic run, as its ranks see it. */
export interface ElasticSegment {
  /** The run folder every segment writes into. */
  runDir: string;
  /** A restart: train the run's own config.json, resuming from `from` (null: from step 0). */
  restart: boolean;
  /** The newest complete checkpoint when the segment started; null when there was none. */
  from: string | null;
}

/** ElasticSegment as the launcher writes it, checked. */
const Segment = z.object({ runDir: z.string().min(1), restart: z.boolean(), from: z.string().min(1).nullable() }).strict();

/**
 * The segment this rank belongs to, or null outside an elastic launch.
 * @example elasticSegment({ TURBINE_ELASTIC: '{"runDir":"runs/mlp/version_0","restart":false,"from":null}' })?.runDir // "runs/mlp/version_0"
 */
export function elasticSegment(env: NodeJS.ProcessEnv = process.env): ElasticSegment | null {
  const value = env[ELASTIC_ENV];
  if (value === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  const segment = Segment.safeParse(parsed);
  if (!segment.success) {
    throw new UsageError(
      `${ELASTIC_ENV} holds ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)}, not the segment \`turbine launch --max-restarts\` sets ({"runDir", "restart", "from"})`,
      `unset ${ELASTIC_ENV} to train on its own`,
    );
  }
  return segment.data;
}
