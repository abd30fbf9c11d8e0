import * as ops from "../../src/ops/index.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

checkOpFixtures("matmul", ({ a, b }) => ops.matmul(a!, b!));
checkOpFixtures("linear", ({ x, w, b }) => ops.linear(x!, w!, b));
