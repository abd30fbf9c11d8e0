export { add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge } from "./binary.js";
export { neg, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu, abs, square, reciprocal, clampMin } from "./unary.js";
export { sum, mean, max, min } from "./reduce.js";
export { reshape, flatten, squeeze, unsqueeze, detach, expand } from "./view.js";
export { matmul, linear } from "./matmul.js";
export { softmax, logSoftmax } from "./softmax.js";
export { layerNorm } from "./norm.js";
export { crossEntropy, type CrossEntropyOptions } from "./loss.js";
