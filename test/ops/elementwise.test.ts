import * as ops from "../../src/ops/index.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

const unary: Record<string, (x: Tensor) => Tensor> = {
  neg: ops.neg,
  exp: ops.exp,
  log: ops.log,
  sqrt: ops.sqrt,
  rsqrt: ops.rsqrt,
  tanh: ops.tanh,
  sigmoid: ops.sigmoid,
  relu: ops.relu,
  gelu_erf: (x) => ops.gelu(x),
  gelu_tanh: (x) => ops.gelu(x, "tanh"),
  abs: ops.abs,
  square: ops.square,
  reciprocal: ops.reciprocal,
};
for (const [name, fn] of Object.entries(unary)) checkOpFixtures(name, ({ x }) => fn(x!));

const binary: Record<string, (a: Tensor, b: Tensor | number) => Tensor> = {
  add: ops.add,
  sub: ops.sub,
  mul: ops.mul,
  div: ops.div,
};
for (const [name, fn] of Object.entries(binary)) {
  checkOpFixtures(name, ({ a, b }, attrs) => fn(a!, attrs.scalar ?? b!));
}
checkOpFixtures("maximum", ({ a, b }) => ops.maximum(a!, b!));
checkOpFixtures("minimum", ({ a, b }) => ops.minimum(a!, b!));
checkOpFixtures("pow", ({ a, b }, attrs) => ops.pow(a!, attrs.exponent ?? b!));
for (const name of ["eq", "ne", "lt", "le", "gt", "ge"] as const) {
  const op = { eq: ops.eq, ne: ops.ne, lt: ops.lt, le: ops.le, gt: ops.gt, ge: ops.ge }[name];
  checkOpFixtures(name, ({ a, b }) => op(a!, b!));
}
