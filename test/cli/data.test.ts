import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { TokenFile } from "../../src/data/token_file.js";
import { repoRoot } from "../helpers/paths.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-cli-data-"));
after(() => rmSync(work, { recursive: true, force: true }));

function turbine(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const TEXT = Array.from({ length: 80 }, (_, i) => `And it came to pass on day ${i}, that the ${i % 2 ? "sun" : "moon"} rose.\n`).join("");

test("`turbine data prepare` writes a token file that `turbine train` trains a gpt on", () => {
  writeFileSync(join(work, "corpus.txt"), TEXT);
  const r = turbine(["data", "prepare", "corpus.txt", "corpus.tokens"]);
  assert.equal(r.code, 0, r.stderr);
  const file = TokenFile.open(join(work, "corpus.tokens"));
  assert.equal(file.count, TEXT.length);
  assert.match(r.stdout, new RegExp(`corpus\\.tokens: ${TEXT.length} tokens, vocabulary of ${file.tokenizer.vocabSize} characters, uint8`));
  file.close();
  writeFileSync(
    join(work, "gpt-tokens.json"),
    JSON.stringify({
      model: { kind: "gpt", layers: 1, heads: 2, width: 16, context: 16 },
      data: { kind: "tokens", path: "corpus.tokens", batchSize: 4, valBatches: 2, seqLenWarmup: { start: 8, steps: 3 } },
      train: { steps: 4 },
    }),
  );
  const t = turbine(["train", "gpt-tokens.json", "--no-progress", "--json"]);
  assert.equal(t.code, 0, t.stderr);
  const summary = JSON.parse(t.stdout.trim().split("\n").at(-1)!);
  assert.equal(summary.steps, 4);
  assert.ok(Number.isFinite(summary.eval.loss));
  const s = turbine(["sample", "--checkpoint", join("runs", "gpt", "version_0"), "--prompt", "And", "--tokens", "5"]);
  assert.equal(s.code, 0, s.stderr);
  assert.ok(s.stdout.startsWith("And"), "the checkpoint holds the token file's vocabulary");
});

test("prepare names a missing input and an unwritable output; training names a corrupt token file (exit 1)", () => {
  const missing = turbine(["data", "prepare", "nope.txt", "out.tokens"]);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /turbine: .*nope\.txt: no such text file/);
  writeFileSync(join(work, "small.txt"), "abc");
  const unwritable = turbine(["data", "prepare", "small.txt", "small.txt/out.tokens"]);
  assert.equal(unwritable.code, 1, unwritable.stderr);
  assert.match(unwritable.stderr, /small\.txt\/out\.tokens: cannot write the token file \(ENOTDIR/);
  const usage = turbine(["data", "prepare", "small.txt"]);
  assert.notEqual(usage.code, 0);
  assert.match(usage.stderr, /missing required argument 'out'/);

  const good = readFileSync(join(work, "corpus.tokens"));
  const cases: [string, Buffer, RegExp][] = [
    ["bad-magic", Buffer.concat([Buffer.from("NOTTOKEN"), good.subarray(8)]), /bad-magic\.tokens: bad magic "NOTTOKEN", expected "TURBTOKN"/],
    ["truncated", good.subarray(0, good.length - 100), /truncated\.tokens: truncated: the header announces \d+ uint8 tokens/],
    [
      "checksum",
      (() => {
        const b = Buffer.from(good);
        b[20] = 1;
        return b;
      })(),
      /checksum\.tokens: header checksum mismatch/,
    ],
  ];
  for (const [name, bytes, message] of cases) {
    writeFileSync(join(work, `${name}.tokens`), bytes);
    const r = turbine(["train", "gpt-tokens.json", "--no-progress", "--set", `data.path=${name}.tokens`]);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
  }
  const tooLong = turbine(["train", "gpt-tokens.json", "--no-progress", "--set", "data.seqLenWarmup.start=64"]);
  assert.equal(tooLong.code, 2, tooLong.stderr);
  assert.match(tooLong.stderr, /data\.seqLenWarmup\.start 64 exceeds model\.context 16/);
});

test("`turbine launch -n 2 -- data prepare` (threads): no rank closes a file descriptor twice, so Node warns of none", () => {
  writeFileSync(join(work, "launched.txt"), TEXT);
  mkdirSync(join(work, "a-dir"));
  // The output is a folder: the rename fails after the temporary file was closed, and giving up
  // closed it a second time (a descriptor the other rank may have opened by then).
  const failed = turbine(["launch", "-n", "2", "--", "data", "prepare", "launched.txt", "a-dir"]);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /a-dir: cannot write the token file \(EISDIR/);
  assert.doesNotMatch(failed.stderr, /unmanaged mode|Warning/, "no warnings from the ranks");
  const r = turbine(["launch", "-n", "2", "--", "data", "prepare", "launched.txt", "launched.tokens"]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /unmanaged mode|Warning/);
  const file = TokenFile.open(join(work, "launched.tokens"));
  assert.equal(file.count, TEXT.length);
  file.close();
});
