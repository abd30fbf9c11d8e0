import { noGrad } from "../autograd/grad_mode.js";
import { copyInto } from "../ops/inplace.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * The base of every layer and model, as torch.nn.Module: named parameters and buffers,
 * submodules, train/eval mode, and state dicts keyed by dotted names ("0.weight",
 * "blocks.3.attn.proj.bias"). Subclasses register what they own in their constructor.
 *
 * @example
 * class Affine extends Module {
 *   readonly scale = this.addParameter("scale", ones([4]));
 *   forward(x: Tensor): Tensor { return mul(x, this.scale); }
 * }
 */
export abstract class Module {
  /** True in training mode (dropout active, batch statistics), false after eval(). */
  training = true;
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  abstract forward(input: Tensor): Tensor;

  /** Registers a trainable tensor: it requires grad, is kept across tidy scopes and counted as "parameter". */
  protected addParameter<T extends Tensor | null>(name: string, t: T): T {
    this.checkName(name);
    if (t) {
      t.requiresGrad = true;
      t.kept = true;
      t.category = "parameter";
      this.ownParameters.set(name, t);
    }
    return t;
  }

  /** Registers state that is saved but not trained (BatchNorm's running statistics). */
  protected addBuffer<T extends Tensor>(name: string, t: T): T {
    this.checkName(name);
    t.kept = true;
    this.ownBuffers.set(name, t);
    return t;
  }

  protected addModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.children.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    if (name === "" || name.includes(".")) throw new Error(`${this.constructor.name}: invalid member name ${JSON.stringify(name)}`);
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new Error(`${this.constructor.name}: member ${JSON.stringify(name)} is registered twice`);
    }
  }

  /** Direct submodules with their names. */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** This module and every submodule, depth first, with dotted names ("" for this one). */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.children) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  namedParameters(): [string, Tensor][] {
    return this.namedModules().flatMap(([prefix, m]) => [...m.ownParameters].map(([n, t]): [string, Tensor] => [prefix ? `${prefix}.${n}` : n, t]));
  }

  /** Every parameter once, in registration order (tied weights appear once). */
  parameters(): Tensor[] {
    return [...new Set(this.namedParameters().map(([, t]) => t))];
  }

  namedBuffers(): [string, Tensor][] {
    return this.namedModules().flatMap(([prefix, m]) => [...m.ownBuffers].map(([n, t]): [string, Tensor] => [prefix ? `${prefix}.${n}` : n, t]));
  }

  /** Number of trainable elements (tied weights counted once). */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Sets training mode here and below. @example model.train(false) */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: dropout off, running statistics. */
  eval(): this {
    return this.train(false);
  }

  /** Parameters and buffers by dotted name; the tensors themselves, not copies. */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies values into this module's tensors. Strict by default: missing and unexpected keys
   * are an error that lists them; shapes must agree and bf16/f16 sources are refused for f32
   * targets rather than silently widened.
   */
  loadStateDict(state: Record<string, Tensor>, strict = true): { missing: string[]; unexpected: string[] } {
    const own = this.stateDict();
    const missing = Object.keys(own).filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !(k in own));
    if (strict && (missing.length > 0 || unexpected.length > 0)) {
      const parts = [];
      if (missing.length > 0) parts.push(`missing keys: ${missing.join(", ")}`);
      if (unexpected.length > 0) parts.push(`unexpected keys: ${unexpected.join(", ")}`);
      throw new Error(`${this.constructor.name}.loadStateDict: ${parts.join("; ")}`);
    }
    for (const [key, target] of Object.entries(own)) {
      const source = state[key];
      if (!source) continue;
      if (!sameShape(source.shape, target.shape) || source.dtype !== target.dtype) {
        throw new Error(
          `${this.constructor.name}.loadStateDict: '${key}' is ${source.dtype} ${formatShape(source.shape)} in the state dict, ` +
            `${target.dtype} ${formatShape(target.shape)} in the module`,
        );
      }
    }
    noGrad(() => {
      for (const [key, target] of Object.entries(own)) if (state[key]) copyInto(target, state[key]!);
    });
    return { missing, unexpected };
  }

  /** Drops every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }
}
