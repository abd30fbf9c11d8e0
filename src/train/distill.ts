import { noGrad } from "../autograd/grad_mode.js";
import { Module } from "../nn/module.js";
import { add, mul, sub } from "../ops/binary.js";
import { sum } from "../ops/reduce.js";
import { logSoftmax, softmax } from "../ops/softmax.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Batch, Task } from "./task.js";

/** How a student learns from its teacher (Hinton et al., "Distilling the Knowledge in a Neural Network"). */
export interface DistillOptions {
  /** Softens both sides' distributions: logits / temperature. */
  temperature: number;
  /** Weight of the distillation term; 1 − alpha weighs the task's own (label) loss. */
  alpha: number;
}

/**
 * KL(teacher ‖ student) of the softened distributions over the last axis, averaged over rows
 * (PyTorch's `kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean")` for 2-D logits).
 * The teacher's side carries no gradient.
 * @example softTargetKL(studentLogits, teacherLogits, 2).item()
 */
export function softTargetKL(student: Tensor, teacher: Tensor, temperature: number): Tensor {
  if (student.shape.join(",") !== teacher.shape.join(","))
    throw new RangeError(`distill: the teacher's outputs [${teacher.shape.join(", ")}] differ from the student's [${student.shape.join(", ")}]`);
  const rows = student.size / student.shape[student.ndim - 1]!;
  const [p, logP] = noGrad(() => [softmax(mul(teacher, 1 / temperature)), logSoftmax(mul(teacher, 1 / temperature))]);
  const logQ = logSoftmax(mul(student, 1 / temperature));
  return mul(sum(mul(p!, sub(logP!, logQ))), 1 / rows);
}

/** The student as the task sees it, keeping the output of its forward for the distillation term. */
class ObservedStudent extends Module {
  output: Tensor | null = null;

  constructor(readonly student: Module) {
    super();
    this.addModule("student", student);
  }

  forward(x: Tensor): Tensor {
    this.output = this.student.forward(x);
    return this.output;
  }
}

/**
 * A task whose training loss mixes the teacher's softened outputs with the task's own loss:
 * alpha · T² · KL(teacher ‖ student at temperature T) + (1 − alpha) · task loss (the T² keeps
 * the soft term's gradients at the label term's scale). The teacher runs without recording
 * gradients, under the same autocast as the student; evaluation is the task's own.
 * @example const task = distillation(classification(), teacher, { temperature: 2, alpha: 0.5 });
 */
export function distillation(task: Task, teacher: Module, options: DistillOptions): Task {
  const { temperature: t, alpha } = options;
  teacher.eval();
  return {
    ...task,
    loss(model: Module, batch: Batch): Tensor {
      const observed = new ObservedStudent(model);
      const label = task.loss(observed, batch);
      const soft = noGrad(() => teacher.forward(batch.x));
      const kl = softTargetKL(observed.output!, soft, t);
      return add(mul(kl, alpha * t * t), mul(label, 1 - alpha));
    },
  };
}
