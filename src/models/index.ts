export { mlp, type MLPConfig } from "./mlp.js";
export { cnn, type CNNConfig } from "./cnn.js";
export { GPT, type GPTConfig } from "./gpt.js";
export { TensorParallelGPT, type TensorParallelOptions } from "./tensor_parallel_gpt.js";
export { generate, type GenerateOptions } from "./generate.js";
