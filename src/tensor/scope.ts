import type { Node } from "../autograd/node.js";
import type { Tensor } from "./tensor.js";

/**
 * tidy() scopes make memory deterministic: every tensor made inside is disposed when the scope
 * ends unless it is returned (it then belongs to the enclosing scope) or kept. Graph nodes made
 * inside release their saved tensors too, unless a returned tensor still depends on them.
 */
interface Scope {
  tensors: Tensor[];
  nodes: Node[];
}

const scopes: Scope[] = [];

export function trackTensor(t: Tensor): void {
  const scope = scopes[scopes.length - 1];
  if (scope) scope.tensors.push(t);
}

export function trackNode(node: Node): void {
  const scope = scopes[scopes.length - 1];
  if (scope) scope.nodes.push(node);
}

/**
 * Marks a tensor as never disposed by a scope (model parameters, running statistics).
 *
 * @example
 * const w = tidy(() => keep(randn([10, 10])));
 */
export function keep<T extends Tensor>(t: T): T {
  t.kept = true;
  return t;
}

/**
 * Disposes handles the caller no longer needs and returns `result`: inside a forward pass this
 * frees intermediates early (autograd keeps what backward needs through its own references).
 * @example const y = release(add(x, a), a);
 */
export function release<T>(result: T, ...handles: Tensor[]): T {
  for (const h of handles) h.dispose();
  return result;
}

/**
 * Runs fn and disposes every tensor it made except those it returns (in an array or object too)
 * and those kept.
 *
 * @example
 * const loss = tidy(() => {
 *   const l = crossEntropy(model.forward(x), y);
 *   l.backward();
 *   return l.item();
 * });
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { tensors: [], nodes: [] };
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    end(scope, new Set());
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    end(scope, new Set());
    throw new Error("tidy() takes a synchronous function; an async one would see its tensors disposed");
  }
  end(scope, returnedTensors(result));
  return result;
}

function returnedTensors(value: unknown, found = new Set<Tensor>(), depth = 0): Set<Tensor> {
  if (value === null || typeof value !== "object" || depth > 4) return found;
  if (isTensor(value)) {
    found.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) returnedTensors(v, found, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype || value instanceof Map) {
    const values = value instanceof Map ? value.values() : Object.values(value);
    for (const v of values) returnedTensors(v, found, depth + 1);
  }
  return found;
}

function isTensor(value: object): value is Tensor {
  return "shape" in value && "dtype" in value && "outputIndex" in value;
}

function end(scope: Scope, returned: Set<Tensor>): void {
  const parent = scopes[scopes.length - 1];
  const live = new Set<Node>();
  for (const t of scope.tensors) {
    if (t.kept || returned.has(t)) {
      if (!t.kept && parent) parent.tensors.push(t);
      if (t.node) markReachable(t.node, live);
    } else {
      t.dispose();
    }
  }
  for (const node of scope.nodes) {
    if (live.has(node)) {
      if (parent) parent.nodes.push(node);
    } else {
      node.release();
    }
  }
}

function markReachable(start: Node, seen: Set<Node>): void {
  const stack = [start];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    for (const edge of node.edges) if (edge?.node) stack.push(edge.node);
  }
}
