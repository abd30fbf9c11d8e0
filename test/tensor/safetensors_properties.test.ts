import assert from "node:assert/strict";
import { test } from "node:test";

import fc from "fast-check";

import { decodeSafetensors, encodeSafetensors } from "../../src/tensor/safetensors.js";

// Property-based tests of the safetensors reader against the format's specification, with files
// built here byte by byte (not by turbine's writer): any valid file is read exactly, whatever its
// header and data orders, tensor names or zero-size tensors; any corruption of one is refused
// with the reader's one standard message, never another exception type.

const ITEM_BYTES = { F32: 4, BF16: 2, F16: 2, I32: 4, F64: 8, I64: 8 } as const;
type Code = keyof typeof ITEM_BYTES;

interface Spec {
  name: string;
  dtype: Code;
  shape: number[];
}

interface File {
  specs: Spec[];
  /** Per tensor (in specs order), its raw bytes in the data section. */
  data: Uint8Array[];
  metadata: Record<string, string> | null;
  headerOrder: number[];
  dataOrder: number[];
  padding: number;
}

const name = fc.oneof(fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "", "a.b"), fc.string({ unit: "grapheme", maxLength: 8 }));
const spec: fc.Arbitrary<Spec> = fc.record({
  name: name.filter((n) => n !== "__metadata__"),
  dtype: fc.constantFrom(...(Object.keys(ITEM_BYTES) as Code[])),
  shape: fc.array(fc.nat(3), { maxLength: 3 }),
});
const sizeOf = (s: Spec): number => s.shape.reduce((a, b) => a * b, 1);

/** Element bytes that read back to a known value: F64 holds float32 values, I64 int32 values. */
function elementBytes(s: Spec, seed: number): Uint8Array {
  const n = sizeOf(s);
  const out = new Uint8Array(n * ITEM_BYTES[s.dtype]);
  const view = new DataView(out.buffer);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    if (s.dtype === "F64") view.setFloat64(8 * i, Math.fround((x - 2 ** 31) / 1024), true);
    else if (s.dtype === "I64") view.setBigInt64(8 * i, BigInt(x | 0), true);
    else for (let b = 0; b < ITEM_BYTES[s.dtype]; b++) out[i * ITEM_BYTES[s.dtype] + b] = (x >>> (8 * b)) & 0xff;
  }
  return out;
}

const validFile: fc.Arbitrary<File> = fc.uniqueArray(spec, { selector: (s) => s.name, maxLength: 6 }).chain((specs) => {
  const indices = specs.map((_, i) => i);
  return fc.record({
    specs: fc.constant(specs),
    data: fc.tuple(...specs.map((s) => fc.integer().map((seed) => elementBytes(s, seed)))),
    metadata: fc.option(fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 })),
    headerOrder: fc.shuffledSubarray(indices, { minLength: specs.length, maxLength: specs.length }),
    dataOrder: fc.shuffledSubarray(indices, { minLength: specs.length, maxLength: specs.length }),
    padding: fc.nat(7),
  });
});

/** The header's entries, each as its JSON text, in header order (metadata first when present). */
function entries(file: File): [string, unknown][] {
  const offsets: [number, number][] = [];
  let at = 0;
  for (const i of file.dataOrder) {
    offsets[i] = [at, at + file.data[i]!.length];
    at += file.data[i]!.length;
  }
  const list: [string, unknown][] = file.headerOrder.map((i) => [
    file.specs[i]!.name,
    { dtype: file.specs[i]!.dtype, shape: file.specs[i]!.shape, data_offsets: offsets[i] },
  ]);
  if (file.metadata) list.unshift(["__metadata__", file.metadata]);
  return list;
}

function encode(header: Uint8Array, data: Uint8Array[]): Uint8Array {
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, header, ...data]);
}

function headerBytes(list: [string, unknown][], padding: number): Uint8Array {
  return Buffer.from(`{${list.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}${" ".repeat(padding)}`, "utf8");
}

const fileBytes = (file: File): Uint8Array =>
  encode(
    headerBytes(entries(file), file.padding),
    file.dataOrder.map((i) => file.data[i]!),
  );

function assertReadsBack(file: File): void {
  const { tensors, metadata } = decodeSafetensors(fileBytes(file), "prop.safetensors");
  assert.equal(Object.getPrototypeOf(tensors), null, "no tensor name reaches the result's prototype");
  assert.deepEqual(Object.keys(tensors).sort(), file.specs.map((s) => s.name).sort());
  file.specs.forEach((s, i) => {
    const t = tensors[s.name]!;
    assert.deepEqual([...t.shape], s.shape, `shape of '${s.name}'`);
    const raw = file.data[i]!;
    if (s.dtype === "F64" || s.dtype === "I64") {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const expected = Array.from({ length: sizeOf(s) }, (_, k) => (s.dtype === "F64" ? view.getFloat64(8 * k, true) : Number(view.getBigInt64(8 * k, true))));
      assert.deepEqual(t.toArray(), expected, `values of '${s.name}'`);
    } else {
      assert.deepEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), raw, `bytes of '${s.name}'`);
    }
  });
  assert.deepEqual({ ...metadata }, { ...(file.metadata ?? {}) });
}

function assertRefused(bytes: Uint8Array): void {
  assert.throws(
    () => decodeSafetensors(bytes, "prop.safetensors"),
    (error: unknown) => error instanceof Error && error.constructor === Error && /^prop\.safetensors: not a valid safetensors file: \S/.test(error.message),
  );
}

test("every valid safetensors file reads back exactly: any header and data order, zero-size tensors, any names", () => {
  fc.assert(fc.property(validFile, assertReadsBack), { seed: 15, numRuns: 400 });
});

test("turbine's writer round-trips what the reader read, names like __proto__ included", () => {
  fc.assert(
    fc.property(validFile, (file) => {
      const first = decodeSafetensors(fileBytes(file));
      const again = decodeSafetensors(encodeSafetensors(first.tensors, first.metadata));
      assert.deepEqual(Object.keys(again.tensors).sort(), Object.keys(first.tensors).sort());
      for (const [n, t] of Object.entries(first.tensors)) assert.deepEqual(again.tensors[n]!.toArray(), t.toArray(), n);
    }),
    { seed: 15, numRuns: 100 },
  );
});

/** One way to corrupt a valid file; each breaks a rule of the specification. */
type Corruption = (file: File, pick: number) => Uint8Array | null;
const corruptions: Record<string, Corruption> = {
  "data cut short": (f, k) => {
    const b = fileBytes(f);
    const total = f.data.reduce((a, d) => a + d.length, 0);
    return total === 0 ? null : b.subarray(0, b.length - 1 - (k % total));
  },
  "bytes after the last tensor": (f, k) => Buffer.concat([fileBytes(f), new Uint8Array(1 + (k % 9))]),
  "an entry that is not an object": (f, k) => {
    const list = entries(f);
    const i = list.findIndex(([n]) => n !== "__metadata__");
    if (i < 0) return null;
    list[i]![1] = [null, 3, "F32", [1, 2], true][k % 5];
    return encode(
      headerBytes(list, f.padding),
      f.dataOrder.map((j) => f.data[j]!),
    );
  },
  "a tensor's range moved": (f, k) => {
    const list = entries(f);
    const i = list.findIndex(
      ([n, e]) => n !== "__metadata__" && (e as { data_offsets: number[] }).data_offsets[1]! > (e as { data_offsets: number[] }).data_offsets[0]!,
    );
    if (i < 0) return null;
    const e = list[i]![1] as { data_offsets: number[] };
    const d = (k % 2 === 0 ? 1 : -1) * (1 + (k % 5));
    e.data_offsets = e.data_offsets.map((o) => o + d);
    return encode(
      headerBytes(list, f.padding),
      f.dataOrder.map((j) => f.data[j]!),
    );
  },
  "a shape that does not fit the bytes": (f) => {
    const list = entries(f);
    const i = list.findIndex(([n]) => n !== "__metadata__");
    if (i < 0) return null;
    const e = list[i]![1] as { shape: number[] };
    e.shape = [e.shape.reduce((a, b) => a * b, 1) + 1];
    return encode(
      headerBytes(list, f.padding),
      f.dataOrder.map((j) => f.data[j]!),
    );
  },
  "an unknown dtype": (f, k) => {
    const list = entries(f);
    const i = list.findIndex(([n]) => n !== "__metadata__");
    if (i < 0) return null;
    (list[i]![1] as { dtype: unknown }).dtype = ["C64", "constructor", "toString", 4, null][k % 5];
    return encode(
      headerBytes(list, f.padding),
      f.dataOrder.map((j) => f.data[j]!),
    );
  },
  "metadata that is not a string map": (f, k) => {
    const list = entries(f).filter(([n]) => n !== "__metadata__");
    list.push(["__metadata__", [null, [], { step: 3 }, { a: null }, "x"][k % 5]]);
    return encode(
      headerBytes(list, f.padding),
      f.dataOrder.map((j) => f.data[j]!),
    );
  },
  "a header that is not UTF-8": (f, k) => {
    // The bad bytes sit in a metadata value, which a lenient decoder would read as U+FFFD and accept.
    const list = entries(f).filter(([n]) => n !== "__metadata__");
    const bad = [[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80]][k % 4]!; // invalid byte, bad continuation, truncated, surrogate
    const before = headerBytes(list, 0).subarray(0, -1); // without the closing brace
    const header = Buffer.concat([before, Buffer.from(`${list.length > 0 ? "," : ""}"__metadata__":{"k":"`), Buffer.from(bad), Buffer.from('"}}')]);
    return encode(
      header,
      f.dataOrder.map((j) => f.data[j]!),
    );
  },
  "a header that does not begin with {": (f, k) =>
    encode(
      Buffer.concat([Buffer.from([" ", "[", "\n", "x"][k % 4]!), headerBytes(entries(f), f.padding)]),
      f.dataOrder.map((j) => f.data[j]!),
    ),
  "a key twice in one object": (f, k) => {
    // JSON.parse would keep the second silently: each duplicate is the same value, so only the
    // repetition itself is wrong. Variants: a tensor entry, a field of one, __metadata__, a
    // metadata key, and a tensor name spelled the second time in \u escapes.
    const list = entries(f);
    const tensor = list.findIndex(([n]) => n !== "__metadata__");
    const texts = list.map(([n, v]) => `${JSON.stringify(n)}:${JSON.stringify(v)}`);
    const variant = k % 5;
    if (variant === 0 || variant === 4) {
      if (tensor < 0) return null;
      const [n, v] = list[tensor]!;
      const escaped = `"${Array.from({ length: n.length }, (_, c) => `\\u${n.charCodeAt(c).toString(16).padStart(4, "0")}`).join("")}"`;
      const again = variant === 0 ? JSON.stringify(n) : escaped;
      texts.push(`${again}:${JSON.stringify(v)}`);
    } else if (variant === 1) {
      if (tensor < 0) return null;
      const dtype = JSON.stringify((list[tensor]![1] as { dtype: string }).dtype);
      texts[tensor] = texts[tensor]!.replace(/\}$/, `,"dtype":${dtype}}`);
    } else {
      const metadata = { ...(f.metadata ?? {}), x: "1" };
      const i = list.findIndex(([n]) => n === "__metadata__");
      const text = `"__metadata__":${JSON.stringify(metadata)}`;
      if (variant === 2) texts.push(text, text);
      else texts[i < 0 ? texts.push(text) - 1 : i] = text.replace(/\}$/, ',"x":"1"}');
    }
    return encode(
      Buffer.from(`{${texts.join(",")}}`),
      f.dataOrder.map((j) => f.data[j]!),
    );
  },
  "a header length beyond the file": (f, k) => {
    const b = Buffer.from(fileBytes(f));
    b.writeBigUInt64LE(BigInt(b.length - 7 + (k % 1000)), 0);
    return b;
  },
};

test("every corruption of a valid file is refused with the standard message, never another exception", () => {
  fc.assert(
    fc.property(validFile, fc.constantFrom(...Object.keys(corruptions)), fc.nat(), (file, kind, pick) => {
      const bytes = corruptions[kind]!(file, pick);
      fc.pre(bytes !== null);
      assertRefused(bytes!);
    }),
    { seed: 15, numRuns: 600 },
  );
});

test("the issue's cases: zero-size tensor at another's offset, header order unlike data order, __proto__, null entry", () => {
  const file = (header: object, data: number): Uint8Array => encode(headerBytes(Object.entries(header), 0), [new Uint8Array(data)]);
  const { tensors } = decodeSafetensors(
    file(
      {
        b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
        e: { dtype: "F32", shape: [0], data_offsets: [4, 4] },
        a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
      },
      8,
    ),
  );
  assert.deepEqual(Object.keys(tensors), ["b", "e", "a"]);
  assert.deepEqual([...tensors.e!.shape], [0]);
  const proto = decodeSafetensors(encode(Buffer.from('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), [new Uint8Array(4)]));
  assert.equal(Object.getPrototypeOf(proto.tensors), null);
  assert.deepEqual(Object.keys(proto.tensors), ["__proto__"]);
  assert.throws(
    () => decodeSafetensors(file({ w: null }, 0), "n.st"),
    /^Error: n\.st: not a valid safetensors file: tensor 'w' is null, not an object of dtype, shape and data_offsets$/,
  );
  assert.throws(
    () => decodeSafetensors(encode(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), []), "u.st"),
    /u\.st: not a valid safetensors file: header is not valid UTF-8/,
  );
  assert.throws(
    () => decodeSafetensors(file({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 8), "h.st"),
    /bytes 4\.\.8 of the data section belong to no tensor/,
  );
  assert.throws(
    () => decodeSafetensors(encode(Buffer.from('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"shape":[1]}}'), [new Uint8Array(4)]), "d.st"),
    /^Error: d\.st: not a valid safetensors file: header has the key "shape" twice in one object$/,
  );
});
