import * as ops from "../../src/ops/index.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

for (const name of ["sum", "mean", "max", "min"] as const) {
  checkOpFixtures(name, ({ x }, { axes, keepDim }) => ops[name](x!, axes ?? undefined, keepDim));
}
