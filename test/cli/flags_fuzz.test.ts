import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { type Command, CommanderError, type Option } from "commander";
import fc from "fast-check";

import { exitCodeFor } from "../../src/cli/errors.js";
import { checkRankCommand, turbineProgram } from "../../src/cli/program.js";
import { repoRoot } from "../helpers/paths.js";

// Property-based fuzz of the command line: every flag of every command (their names read from
// the program itself, so a new flag is fuzzed too) with plausible but wrong values, unknown
// flags, missing values and bad positional arguments. Whatever the line, turbine ends with exit
// code 0, 1 or 2 and no stack trace. Configs and --set values have their own fuzz
// (test/train/config_fuzz.test.ts); here --set takes a few values that fail only at run time.

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-flags-fuzz-"));
after(() => rmSync(work, { recursive: true, force: true }));

const corpus = join(work, "corpus.txt");
const tinyGpt = join(work, "tiny.json");
const tinyRun = join(work, "runs", "tiny", "version_0");
before(async () => {
  writeFileSync(corpus, "and god said let there be light and there was light\n".repeat(60));
  const model = { kind: "gpt", layers: 1, heads: 1, width: 8, context: 8 };
  writeFileSync(
    tinyGpt,
    JSON.stringify({ name: "tiny", outDir: join(work, "runs"), model, data: { kind: "text", path: corpus, batchSize: 2, valBatches: 1 }, train: { steps: 1 } }),
  );
  mkdirSync(join(work, "a-folder"));
  const r = await turbine(["train", tinyGpt, "--no-progress"]);
  assert.equal(r.code, 0, r.stderr);
});

/** Runs the CLI in a child process, as a user would, with a deadline that counts as a hang. */
function turbine(args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: work, env: { ...process.env, TURBINE_CACHE: join(work, "cache") } });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => void (stdout += d));
    child.stderr.on("data", (d) => void (stderr += d));
    const deadline = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("close", (code, signal) => {
      clearTimeout(deadline);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Values that look like what a flag takes but are not allowed: signs, NaN, beyond float or safe-integer range, empty, unicode. */
const wrongValue = fc.constantFrom("-1", "0", "-0", "2.5", "NaN", "Infinity", "1e400", "9007199254740993", "0x10", "", " ", "é✓🙂", "null", "[]", "--");
/** Flags no command has, and spellings of real ones commander must not guess. */
const unknownFlag = fc.constantFrom("--bogus", "-x", "--set=", "--no-list", "---", "--steps", "-nn", "--TRAIN");

/** What each flag can be given besides the wrong values: the command's own choices and valid-looking values. */
function plausibleValues(option: Option): string[] {
  const named: Record<string, string[]> = {
    "--checkpoint": [tinyRun, join(work, "a-folder"), "missing"],
    "--out": [join(work, "report.html"), join(work, "a-folder"), join(work, "new", "r.html")],
    "--resume": [tinyRun, join(work, "a-folder"), corpus],
    "--hostfile": [corpus, "missing"],
    "--trace": [join(work, "trace.json"), join(work, "a-folder"), join(work, "missing", "t.json")],
    "--backend": ["threads", "mpi", "nccl"],
    "--workloads": ["mlp", "gpt,cnn", "mlp,rnn", ","],
    "--prompt": ["and ", "Z", "\n"],
    // Values that pass the schema and fail when the run starts (allocation, cross-field checks).
    // Sizes a machine cannot hold (refused from the config before any building) and counts that could never finish.
    "--set": [
      "model.width=1000000000",
      "model.layers=100000000",
      "data.batchSize=100000000",
      "model.heads=3",
      "train.threads=5000",
      "data.valBatches=1000",
      "__proto__.x=1",
      "=",
      "train.steps",
    ],
    "--tokens": ["1", "2", "1e15", "1000001"],
  };
  return named[option.long ?? ""] ?? option.argChoices ?? ["1", "2"];
}

/** One flag of `command` as the words of a command line: with a value (wrong or plausible), without, or an unknown one. */
function flagWords(command: Command): fc.Arbitrary<string[]> {
  const options = command.options.filter((o) => o.long !== "--help");
  const known = options.map((o) => {
    const name = fc.constantFrom(...[o.long, o.short].filter((f): f is string => f !== undefined));
    if (!o.required && !o.optional) return name.map((n) => [n]);
    const value = fc.oneof(wrongValue, fc.constantFrom(...plausibleValues(o)));
    // A value-taking flag without its value: the line's last word, or followed by another flag.
    return fc.tuple(name, fc.oneof({ weight: 4, arbitrary: value.map((v) => [v]) }, fc.constant([] as string[]))).map(([n, v]) => [n, ...v]);
  });
  const unknown = unknownFlag.map((f) => [f]);
  return known.length === 0 ? unknown : fc.oneof({ weight: 6, arbitrary: fc.oneof(...known) }, unknown);
}

const program = turbineProgram();
const commandNamed = (name: string): Command => program.commands.find((c) => c.name() === name)!;
const flags = (command: Command): fc.Arbitrary<string[]> => fc.array(flagWords(command), { maxLength: 4 }).map((f) => f.flat());
const path = (...good: string[]): fc.Arbitrary<string> =>
  fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...good) }, fc.constantFrom("", " ", "missing.json", join(work, "a-folder"), "é✓🙂"));

// Lines that would do real work when every value happens to be valid are kept tiny: train runs
// one step of a small config into the test's folder (unless it resumes the one-step tiny run),
// bench always has --ops, of the mlp or a wrong workload (a few steps in this process; its
// PyTorch comparison takes minutes, and the gpt's ops table a minute on a loaded machine),
// sample's and data's inputs are the tiny files.
const trainLine = fc.tuple(fc.option(path(tinyGpt, "gpt-chr"), { nil: undefined }), flags(commandNamed("train"))).map(([config, f]) => {
  const guard = f.includes("--resume") ? [] : ["--set", "train.steps=1", "--set", `outDir=${join(work, "runs")}`];
  return ["train", ...(config === undefined ? [] : [config]), ...guard, ...f];
});
// profile runs one step after no warm-up, into the test's folder.
const profileLine = fc
  .tuple(fc.option(path(tinyGpt, "gpt-chr"), { nil: undefined }), flags(commandNamed("profile")))
  .map(([config, f]) => ["profile", ...(config === undefined ? [] : [config]), "--steps", "1", "--warmup", "0", "--set", `outDir=${join(work, "runs")}`, ...f]);
const sampleLine = fc
  .tuple(fc.constantFrom([tinyRun], [join(work, "a-folder")], []), flags(commandNamed("sample")))
  .map(([checkpoint, f]) => ["sample", ...checkpoint.flatMap((c) => ["--checkpoint", c]), ...f]);
const benchLine = fc
  .tuple(fc.oneof(fc.constant("mlp"), wrongValue), flags(commandNamed("bench")))
  .map(([ops, f]) => ["bench", "--ops", ops, "--steps", "1", ...f]);
const dataLine = fc
  .tuple(
    fc.oneof({ weight: 3, arbitrary: fc.tuple(path(corpus, "missing.txt"), path(join(work, "out.tokens"))) }, fc.array(path(corpus), { maxLength: 3 })),
    flags(commandNamed("data").commands[0]!),
  )
  .map(([args, f]) => ["data", "prepare", ...args, ...f]);
// report reads run folders (the tiny run, its name's folder, or what is no run) and writes one page.
const reportLine = fc
  .tuple(fc.array(path(tinyRun, join(work, "runs", "tiny")), { maxLength: 3 }), flags(commandNamed("report")))
  .map(([runs, f]) => ["report", ...runs, ...f]);
const rankLine = fc.oneof(trainLine, profileLine, sampleLine, benchLine, dataLine, fc.constant(["fly"]), fc.constant([] as string[]));
const launchLine = fc
  .tuple(flags(commandNamed("launch")), fc.constantFrom(["-n", "2"], ["--nproc-per-node", "1"], []), fc.boolean(), rankLine)
  .map(([f, ranks, separated, rank]) => ["launch", ...ranks, ...f, ...(separated ? ["--"] : []), ...rank]);
const topLine = fc.array(fc.oneof(unknownFlag, wrongValue, fc.constantFrom("trian", "data", "-V")), { maxLength: 2 });
const anyLine = fc.oneof(
  { weight: 3, arbitrary: trainLine },
  profileLine,
  sampleLine,
  benchLine,
  dataLine,
  reportLine,
  { weight: 2, arbitrary: launchLine },
  topLine,
);

/** A stack trace's frames, or the prefix of an error printed whole ("TypeError: ..."). */
const STACK = /^\s+at \S|^turbine: [A-Z]\w*Error:/m;

test("in-process: any line of flags parses, or ends in a usage or config error (exit 2) of one line", async () => {
  // Every command's flags through commander and the rank check of `turbine launch` (train's
  // config included), without running anything: hundreds of lines in a second.
  await fc.assert(
    fc.asyncProperty(fc.oneof(trainLine, profileLine, sampleLine, benchLine, dataLine, reportLine, fc.constant(["fly"])), async (argv) => {
      try {
        await checkRankCommand(argv.filter((a) => a !== "--help"));
      } catch (error) {
        if (error instanceof CommanderError && error.exitCode === 0) return;
        assert.ok([1, 2].includes(exitCodeFor(error)), `turbine ${JSON.stringify(argv)}: exit ${exitCodeFor(error)}: ${(error as Error).stack}`);
        assert.doesNotMatch((error as Error).message, /\n/, `one line: ${(error as Error).message}`);
      }
    }),
    { seed: 15, numRuns: 400 },
  );
});

test("as a user runs it: every command line ends with exit 0, 1 or 2 and no stack trace", { timeout: 600_000 }, async (t) => {
  // Child processes cost ~0.4 s each, so fewer lines, three at a time (fast-check runs one at a
  // time); the seed fixes them, and a failure names the line.
  const lines = fc.sample(anyLine, { seed: 15, numRuns: 36 });
  const failures: string[] = [];
  const codes = new Map<number | null, number>();
  for (let i = 0; i < lines.length; i += 3) {
    const batch = lines.slice(i, i + 3);
    const results = await Promise.all(batch.map((argv) => turbine(argv)));
    results.forEach((r, k) => {
      codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      const line = `turbine ${batch[k]!.map((a) => JSON.stringify(a)).join(" ")}`;
      if (r.code === null || ![0, 1, 2].includes(r.code)) failures.push(`${line}: exit ${r.code ?? r.signal}\n${r.stderr}`);
      else if (STACK.test(r.stderr)) failures.push(`${line}: a stack trace\n${r.stderr}`);
    });
  }
  t.diagnostic(`exit codes: ${[...codes].map(([c, n]) => `${c}×${n}`).join(", ")}`);
  assert.deepEqual(failures, []);
  // The lines reach past the usage checks: some run to the end, others are refused.
  assert.ok((codes.get(0) ?? 0) > 0 && (codes.get(2) ?? 0) > 0, "lines that run and lines that are refused");
});

test("paths that are not what a command needs (a missing file without an extension, a folder, a file where a folder goes) fail naming them, without a stack", async () => {
  const plainFile = join(work, "plain-file");
  writeFileSync(plainFile, "not a folder\n");
  const steps = ["--set", "train.steps=1", "--no-progress"];
  const cases: { args: string[]; says: RegExp }[] = [
    { args: ["train", tinyGpt, "--set", `data.path=${join(work, "missing")}`, ...steps], says: /missing: no such text file/ },
    { args: ["train", tinyGpt, "--set", `data.path=${join(work, "a-folder")}`, ...steps], says: /a-folder: cannot read the text file \(EISDIR/ },
    { args: ["train", tinyGpt, "--set", `outDir=${plainFile}`, ...steps], says: /plain-file\/tiny: not a directory \(mkdir\)/ },
    { args: ["sample", "--checkpoint", plainFile], says: /plain-file: not a directory \(scandir\)/ },
  ];
  const results = await Promise.all(cases.map((c) => turbine(c.args)));
  results.forEach((r, i) => {
    const line = `turbine ${cases[i]!.args.join(" ")}`;
    assert.equal(r.code, 1, `${line}: ${r.stderr}`);
    assert.match(r.stderr, cases[i]!.says, line);
    assert.doesNotMatch(r.stderr, STACK, `${line}: ${r.stderr}`);
  });
});
