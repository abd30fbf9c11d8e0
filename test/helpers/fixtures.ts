import { join } from "node:path";

import type { DType } from "../../src/tensor/dtype.js";
import { keep } from "../../src/tensor/scope.js";
import { loadSafetensors } from "../../src/tensor/safetensors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { fixturesDir } from "./paths.js";

/** One case written by test/fixtures/gen.py: inputs, PyTorch's outputs and input gradients. */
export interface FixtureCase {
  name: string;
  attrs: Record<string, any>;
  inputs: Record<string, Tensor>;
  inputNames: string[];
  dtypes: Record<string, string>;
  outputs: Tensor[];
  outDTypes: DType[];
  /** Upstream gradients, one per output; backward computes grads of Σ sum(out · gout). */
  gouts: Tensor[];
  grads: Record<string, Tensor>;
  /** For low-precision cases: the exact (float64) references beside PyTorch's own. */
  exactOutputs: Tensor[] | null;
  exactGrads: Record<string, Tensor> | null;
  gradcheck: boolean;
}

interface CaseMeta {
  name: string;
  attrs: Record<string, any>;
  inputs: string[];
  outputs: number;
  dtypes: Record<string, string>;
  grads: string[];
  gradcheck: boolean;
  out_dtypes: string[];
  exact: boolean;
}

const TORCH_TO_DTYPE: Record<string, DType> = { float32: "float32", bfloat16: "bfloat16", float16: "float16", int32: "int32", int64: "int32", bool: "float32" };

/** Loads every case of one op's fixture file (test/fixtures/ops/<op>.safetensors). */
export function loadFixtures(op: string): FixtureCase[] {
  const { tensors, metadata } = loadSafetensors(join(fixturesDir(), "ops", `${op}.safetensors`));
  for (const t of Object.values(tensors)) keep(t);
  const cases = JSON.parse(metadata.cases ?? "[]") as CaseMeta[];
  return cases.map((c) => {
    const get = (key: string): Tensor => {
      const t = tensors[`${c.name}/${key}`];
      if (!t) throw new Error(`fixture ${op}/${c.name} lacks tensor ${key}`);
      return t;
    };
    const inputs: Record<string, Tensor> = {};
    for (const n of c.inputs) inputs[n] = get(`in/${n}`);
    const outputs = Array.from({ length: c.outputs }, (_, i) => get(`out/${i}`));
    const gouts = c.grads.length > 0 ? Array.from({ length: c.outputs }, (_, i) => get(`gout/${i}`)) : [];
    const grads: Record<string, Tensor> = {};
    for (const n of c.grads) grads[n] = get(`grad/${n}`);
    const exactGrads: Record<string, Tensor> = {};
    for (const n of c.grads) if (c.exact) exactGrads[n] = get(`exact/grad/${n}`);
    return {
      name: c.name,
      attrs: c.attrs,
      inputs,
      inputNames: c.inputs,
      dtypes: c.dtypes,
      outputs,
      outDTypes: c.out_dtypes.map((d) => TORCH_TO_DTYPE[d] ?? (d as DType)),
      gouts,
      grads,
      exactOutputs: c.exact ? Array.from({ length: c.outputs }, (_, i) => get(`exact/out/${i}`)) : null,
      exactGrads: c.exact ? exactGrads : null,
      gradcheck: c.gradcheck,
    };
  });
}
