import { z } from "zod";

import { positive } from "./config_fields.js";

/** The config's `distill` section: knowledge distillation from a trained teacher run. */

/** The `distill` section (optional): a teacher run and the mix of its soft targets with the labels. @example distillSection.parse({ teacher: "runs/cnn/version_0" }) */
export const distillSection = z
  .strictObject({
    teacher: z
      .string()
      .min(1)
      .describe(
        "a trained run of the same task (mlp/cnn on Fashion-MNIST, or a gpt on the same text): its run folder, checkpoints/ folder or one checkpoint; its newest verified checkpoint teaches",
      ),
    temperature: positive().default(2).describe("softens the teacher's and the student's distributions (logits / temperature)"),
    alpha: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe("weight of the distillation term: loss = alpha · T² · KL(teacher ‖ student) + (1 − alpha) · the label loss"),
  })
  .optional()
  .describe(
    "knowledge distillation: the model trains as a student of a teacher's softened outputs (the teacher runs without gradients, under the same precision)",
  );
