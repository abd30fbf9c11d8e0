export { Module } from "./module.js";
export { Sequential, ModuleList } from "./containers.js";
export { Linear, type LinearOptions } from "./linear.js";
export { Conv2d, type Conv2dLayerOptions } from "./conv.js";
export { ReLU, GELU, Tanh, Flatten, MaxPool2d, AvgPool2d, Dropout } from "./layers.js";
export { Embedding } from "./embedding.js";
export { LayerNorm, BatchNorm2d, batchNorm2d, type BatchNormOptions } from "./normalization.js";
export { init, calculateGain, fans, initWeightAndBias, WEIGHT_INITS, type WeightInit, type Nonlinearity } from "./init.js";
export { crossEntropy, mseLoss, klDivLoss } from "./loss.js";
