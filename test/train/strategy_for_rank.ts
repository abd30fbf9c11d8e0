/**
 * One rank of the layout-error tests of modelFor and strategyFor: each case's config, its mesh
 * and a model go through modelFor (and, for a case with `hosts`, strategyFor, each rank with the
 * host id of its index: a worker thread's process.env is its own), and the rank reports the
 * ConfigError's message (or null).
 */
import { GPT } from "../../src/models/gpt.js";
import { mlp } from "../../src/models/mlp.js";
import { deferInit } from "../../src/nn/deferred.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { parseConfig } from "../../src/train/config_file.js";
import { ConfigError } from "../../src/train/config_file.js";
import { HOST_ID_ENV } from "../../src/parallel/mpi/hierarchical.js";
import { meshFor, modelFor, strategyFor } from "../../src/train/strategy_for.js";

export interface LayoutCase {
  model: Record<string, unknown>;
  parallel: Record<string, unknown>;
  /** Each rank's machine (TURBINE_HOST_ID); the case then also builds the strategy. */
  hosts?: string[];
}

export function run(group: ProcessGroup, { cases }: { cases: LayoutCase[] }): (string | null)[] {
  return cases.map((c) => {
    const data = c.model.kind === "gpt" ? { kind: "text", path: "unused.txt" } : { kind: "fashion-mnist" };
    const config = parseConfig({ model: c.model, data, parallel: c.parallel }, "test.json");
    const mesh = meshFor(config, group);
    const m = config.model;
    const model =
      m.kind === "gpt"
        ? deferInit(() => new GPT({ vocabSize: 11, context: m.context, layers: 1, heads: 2, width: 8, ...(m.moe ? { moe: m.moe } : {}) }))
        : mlp({ inputs: 784, hidden: [8], classes: 10 });
    try {
      const built = modelFor(config, model, mesh);
      if (c.hosts) {
        process.env[HOST_ID_ENV] = c.hosts[group.rank]!;
        strategyFor(config, built, group, mesh);
      }
      return null;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return error.message;
    }
  });
}
