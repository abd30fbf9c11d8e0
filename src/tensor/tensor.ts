import { backward, type BackwardOptions } from "../autograd/backward.js";
import type { Node } from "../autograd/node.js";
import { DTYPES, type DType, type TypedArray } from "./dtype.js";
import type { MemoryCategory } from "./memory.js";
import { kernels } from "../backends/index.js";
import { trackTensor } from "./scope.js";
import { Storage } from "./storage.js";

/**
 * An n-dimensional array: a shape, a dtype and contiguous row-major storage. A tensor is a
 * handle: `dispose()` (or the end of the enclosing `tidy`) gives its storage back, and reshaped
 * views share the storage of their base.
 *
 * @example
 * import { tensor, matmul } from "turbine";
 * const a = tensor([[1, 2], [3, 4]], { requiresGrad: true });
 * const loss = sum(matmul(a, a));
 * loss.backward();
 * a.grad!.toArray();   // [7, 11, 9, 13]
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
  /** Whether backward computes a gradient for this tensor (set it on leaves: parameters, inputs). */
  requiresGrad = false;
  /** The gradient accumulated by backward, for leaves that require it. */
  grad: Tensor | null = null;
  /** The autograd node that produced this tensor; null for leaves. */
  node: Node | null = null;
  /** Which of its node's outputs this tensor is. */
  outputIndex = 0;
  /** Exempt from disposal at the end of a tidy() scope (see keep()). */
  kept = false;
  /**
   * Bumped by every in-place write that turbine makes (optimizer steps, loadStateDict, the
   * in-place ops), so copies derived from the elements know when they are stale. A write
   * through `data` directly is not counted, as PyTorch's `.data` bypasses its version counter.
   */
  version = 0;
  private storageRef: Storage | null;
  private view: TypedArray;
  /** Non-null while the tensor is meta (deferred init, no elements yet): its storage's category to be. */
  private metaCategory: MemoryCategory | null = null;

  /** Internal: tensors are made by the creation functions and ops (storage null: a meta tensor). */
  constructor(storage: Storage | null, view: TypedArray, shape: readonly number[], dtype: DType, track = true) {
    this.storageRef = storage;
    this.view = view;
    this.shape = shape;
    this.dtype = dtype;
    this.size = storage === null ? shape.reduce((n, d) => n * d, 1) : view.length;
    if (track) trackTensor(this);
  }

  /**
   * A meta tensor: a shape and a dtype, no elements and no memory (what modules built under
   * `nn.deferInit` hold until they are materialised). Reading its elements is an error.
   * @example const w = Tensor.meta([4096, 4096]);   // 64 MiB that are not allocated
   */
  static meta(shape: readonly number[], dtype: DType = "float32", category: MemoryCategory = "other"): Tensor {
    const t = new Tensor(null, new DTYPES[dtype].array(0), shape, dtype);
    t.metaCategory = category;
    return t;
  }

  /** True for a meta tensor (no elements yet). */
  get isMeta(): boolean {
    return this.metaCategory !== null;
  }

  /**
   * Gives a meta tensor its elements: it takes over `source`'s storage (same shape and dtype),
   * and `source` is disposed. Every holder of this tensor object (a module's field, an
   * optimizer) then sees the elements.
   * @example weight.realize(valuesOfWeight);
   */
  realize(source: Tensor): void {
    if (this.metaCategory === null) throw new Error(`realize: the tensor of shape [${this.shape.join(", ")}] is not meta`);
    if (source.dtype !== this.dtype || source.size !== this.size) {
      throw new Error(`realize: ${source.dtype} [${source.shape.join(", ")}] cannot become ${this.dtype} [${this.shape.join(", ")}]`);
    }
    const storage = source.storage;
    storage.category = this.metaCategory;
    this.storageRef = storage;
    this.view = source.view;
    this.metaCategory = null;
    source.storageRef = null;
  }

  /**
   * The reverse of realize: gives the elements back (the storage returns to the pool once no
   * other handle holds it) and makes the tensor meta again, shape and dtype kept. ZeRO-3 frees a
   * layer's gathered parameters this way after its forward.
   * @example weight.unrealize();   // weight.isMeta === true; realize() gives it elements again
   */
  unrealize(): void {
    if (this.metaCategory !== null) return;
    const category = this.storage.category;
    this.dispose();
    this.view = new DTYPES[this.dtype].array(0);
    this.metaCategory = category;
  }

  /** A new tensor of uninitialised pooled memory. */
  static empty(shape: readonly number[], dtype: DType = "float32", category: MemoryCategory = "activation"): Tensor {
    let size = 1;
    for (const d of shape) size *= d;
    const info = DTYPES[dtype];
    const storage = Storage.allocate(size * info.bytes, category);
    return new Tensor(storage, new info.array(storage.buffer as ArrayBuffer, storage.byteOffset, size), shape, dtype);
  }

  /**
   * The elements, as the typed array that stores them (a Uint16Array of bits for bf16/f16): the
   * form the backend's kernels take. Code above the tensor, ops and backends layers reads and
   * writes elements through toHost() instead.
   */
  get data(): TypedArray {
    if (this.storageRef === null || !this.storageRef.alive) throw this.missingError();
    return this.view;
  }

  /**
   * The elements in host memory, for code that reads or writes them itself (collectives,
   * checkpoints, data loading). The `native` and `js` backends keep storage in host memory, so
   * this is the storage itself: no copy, and writes go through. A device backend would copy here.
   *
   * @example
   * grad.toHost().set(bucket.subarray(offset, offset + grad.size));
   */
  toHost(): TypedArray {
    return this.data;
  }

  get storage(): Storage {
    if (this.storageRef === null || !this.storageRef.alive) throw this.missingError();
    return this.storageRef;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.storageRef === null || !this.storageRef.alive;
  }

  /** True for tensors not produced by a recorded op (parameters and inputs). */
  get isLeaf(): boolean {
    return this.node === null;
  }

  get category(): MemoryCategory {
    return this.metaCategory ?? this.storage.category;
  }

  set category(category: MemoryCategory) {
    if (this.metaCategory !== null) this.metaCategory = category;
    else this.storage.category = category;
  }

  /** Releases this handle; the storage returns to the pool when no handle or graph holds it. */
  dispose(): void {
    if (this.storageRef === null) return;
    this.storageRef.release();
    this.storageRef = null;
  }

  /** Another handle on the same storage (it keeps the storage alive on its own). */
  share(track = true): Tensor {
    const storage = this.storage;
    storage.retain();
    return new Tensor(storage, this.view, this.shape, this.dtype, track);
  }

  /** A handle with another shape of the same element count over the same storage. */
  viewAs(shape: readonly number[]): Tensor {
    const storage = this.storage;
    storage.retain();
    return new Tensor(storage, this.view, shape, this.dtype);
  }

  /**
   * A handle on `size(shape)` elements of this tensor's storage from element `start` on (flat,
   * row-major), shaped `shape`: a parameter's gradient inside a communication bucket, a rank's
   * slice of a flat shard. Writes through either handle are seen by both.
   * @example const second = flat.viewRange(6, [2, 3]);   // elements 6..11 of flat, as 2×3
   */
  viewRange(start: number, shape: readonly number[]): Tensor {
    let size = 1;
    for (const d of shape) size *= d;
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(size) || start + size > this.size) {
      throw new RangeError(`viewRange: elements ${start}..${start + size} of a tensor of ${this.size}`);
    }
    const storage = this.storage;
    storage.retain();
    return new Tensor(storage, this.view.subarray(start, start + size), shape, this.dtype);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item: tensor of shape [${this.shape.join(", ")}] has ${this.size} elements, expected 1`);
    return this.toArray()[0]!;
  }

  /** The elements in row-major order as numbers (bf16 and f16 decoded). */
  toArray(): number[] {
    const data = this.data;
    if (this.dtype === "float32" || this.dtype === "int32") return Array.from(data);
    const decoded = new Float32Array(this.size);
    kernels.cast(DTYPES[this.dtype].code, data, DTYPES.float32.code, decoded);
    return Array.from(decoded);
  }

  /** Backpropagates from this tensor, adding into `.grad` of the leaves it depends on. */
  backward(gradient?: Tensor, options?: BackwardOptions): void {
    backward(this, gradient, options);
  }

  toString(): string {
    const head = `Tensor(shape=[${this.shape.join(", ")}], dtype=${this.dtype}`;
    if (this.disposed) return `${head}, ${this.isMeta ? "meta" : "disposed"})`;
    const values =
      this.size <= 8
        ? this.toArray()
            .map((v) => +v.toPrecision(5))
            .join(", ")
        : `${this.size} elements`;
    return `${head}, [${values}])`;
  }

  private missingError(): Error {
    if (this.metaCategory !== null) {
      return new Error(
        `Tensor of shape [${this.shape.join(", ")}] ${this.dtype} is meta (built under nn.deferInit): materialise its module ` +
          "(nn.materialize) before reading or computing with it",
      );
    }
    return new Error(
      `Tensor of shape [${this.shape.join(", ")}] ${this.dtype} was disposed: by dispose(), by the end of the tidy() ` +
        "scope that made it (return it from the scope or keep() it), or by a backward that released its graph",
    );
  }
}
