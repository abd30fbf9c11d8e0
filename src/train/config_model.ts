import { z } from "zod";

import { WEIGHT_INITS } from "../nn/init.js";
import { int } from "./config_fields.js";

/** The config's `model` section: the mlp, the cnn and the gpt, told apart by `kind`. */

const weightInit = z
  .enum(WEIGHT_INITS as [string, ...string[]])
  .default("default")
  .describe("weight initialisation of the Linear and Conv2d layers");

const mlpModel = z
  .strictObject({
    kind: z.literal("mlp").describe("a multi-layer perceptron: flatten, Linear+ReLU per hidden width, Linear head"),
    hidden: z.array(int(1)).min(1).default([1024, 1024]).describe("widths of the hidden layers"),
    init: weightInit,
  })
  .describe("mlp");

const cnnModel = z
  .strictObject({
    kind: z.literal("cnn").describe("3×3 convolutions, each with ReLU and 2×2 max pooling, then two Linear layers"),
    channels: z.array(int(1)).min(1).default([32, 64]).describe("output channels of each convolution"),
    hidden: int(1).default(128).describe("width of the hidden Linear layer"),
    init: weightInit,
  })
  .describe("cnn");

const gptModel = z
  .strictObject({
    kind: z.literal("gpt").describe("a decoder-only transformer: pre-LayerNorm blocks of causal self-attention and a GELU MLP ×4"),
    layers: int(1).default(4).describe("transformer blocks"),
    heads: int(1).default(4).describe("attention heads per block (width must be a multiple)"),
    width: int(1).default(256).describe("embedding width"),
    headDim: int(1)
      .optional()
      .describe("width of each attention head (default width / heads); set by structured pruning, which removes heads and keeps their width"),
    mlpHidden: int(1).optional().describe("neurons of each block's MLP (default 4 × width); set by structured pruning, which removes the weakest ones"),
    context: int(1).default(128).describe("context length in tokens (training windows and position embeddings)"),
    tiedHead: z.boolean().default(true).describe("share the token embedding with the output head"),
    dropout: z.number().min(0).lt(1).default(0).describe("dropout after attention, MLP and embeddings"),
    checkpoint: z
      .boolean()
      .default(false)
      .describe("activation checkpointing: recompute each block's activations in backward instead of keeping them (less memory, one more forward of compute)"),
    moe: z
      .strictObject({
        experts: int(1).describe("expert MLPs per block (each as wide as the dense MLP)"),
        topK: int(1).default(1).describe("experts each token goes to: the k highest router probabilities (1: Switch, 2: GShard); at most experts"),
        capacityFactor: z
          .number()
          .positive()
          .default(1.25)
          .describe("each expert takes at most ceil(capacityFactor · tokens · topK / experts) tokens of a batch"),
        drop: z
          .boolean()
          .default(true)
          .describe("true: a token past its expert's capacity skips that expert (the residual carries it); false: no capacity limit"),
        auxLossWeight: z.number().min(0).default(0.01).describe("weight of the Switch load-balancing loss added to the training loss, per block"),
      })
      .optional()
      .describe("mixture of experts: replace every block's MLP by `experts` MLPs and a top-k softmax router (absent: dense MLP)"),
  })
  .describe("gpt");

/** The `model` section: one of mlp, cnn and gpt by `kind`. @example modelSection.parse({ kind: "cnn" }) */
export const modelSection = z.discriminatedUnion("kind", [mlpModel, cnnModel, gptModel]).describe("model");
