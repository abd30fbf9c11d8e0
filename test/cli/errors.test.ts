import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { repoRoot } from "../helpers/paths.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-errors-"));
after(() => rmSync(work, { recursive: true, force: true }));

function turbine(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd: work,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, TURBINE_CACHE: join(work, "cache"), ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A text of 3,000 characters over a small alphabet, and a one-step GPT trained on it. */
const text = join(work, "corpus.txt");
const tinyGpt = join(work, "tiny-gpt.json");
const checkpoints = join(work, "runs", "tiny", "version_0", "checkpoints");
before(() => {
  writeFileSync(text, "and god said let there be light and there was light\n".repeat(60));
  const config = {
    name: "tiny",
    outDir: join(work, "runs"),
    model: { kind: "gpt", layers: 1, heads: 1, width: 8, context: 8 },
    data: { kind: "text", path: text, batchSize: 2, valBatches: 1 },
    train: { steps: 1 },
  };
  writeFileSync(tinyGpt, JSON.stringify(config));
  const r = turbine(["train", tinyGpt, "--no-progress"]);
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(join(work, "tiny.txt"), "hello world\n");
  assert.equal(turbine(["data", "prepare", join(work, "tiny.txt"), join(work, "tiny.tokens")]).code, 0);
  mkdirSync(join(work, "a-folder"));
  writeFileSync(join(work, "hosts-bad"), "node1 slots=2\nnode2 slot=2\n");
  writeFileSync(join(work, "hosts-one"), "# one machine\nnode1 slots=2\n");
});

/** Each documented bad input: the command line, its exit code and what the one line says. */
const cases: { args: string[]; code: number; says: RegExp; afterHelp?: boolean; env?: Record<string, string> }[] = [
  // the top level (alone, it prints the help first, as git does)
  { args: [], code: 2, says: /^turbine: a command is needed; see turbine --help$/, afterHelp: true },
  { args: ["trian"], code: 2, says: /^turbine: unknown command 'trian' \(did you mean train\?\); see turbine --help$/ },
  // A help flag does not turn an unknown command into the top-level help (exit 0).
  { args: ["trian", "--help"], code: 2, says: /^turbine: unknown command 'trian' \(did you mean train\?\); see turbine --help$/ },
  { args: ["elastic", "-h"], code: 2, says: /^turbine: unknown command 'elastic'; see turbine --help$/ },
  { args: ["--bogus"], code: 2, says: /unknown option '--bogus'; see turbine --help$/ },
  // train
  { args: ["train", "--bogus"], code: 2, says: /^turbine: train: unknown option '--bogus'; see turbine train --help$/ },
  { args: ["train", "a", "b"], code: 2, says: /^turbine: train: too many arguments for 'train'\. Expected 1 argument but got 2; see turbine train --help$/ },
  { args: ["train", "--set"], code: 2, says: /train: option '--set <path=value>' argument missing/ },
  { args: ["train", "nope.json"], code: 2, says: /config .*nope\.json: cannot read it \(ENOENT\)/ },
  // environment variables with values they do not take
  {
    args: ["train", tinyGpt, "--no-progress"],
    env: { TURBINE_KERNEL_TUNING: "maybe" },
    code: 2,
    says: /^turbine: TURBINE_KERNEL_TUNING must be "on" or "off", got "maybe"$/,
  },
  {
    args: ["train", tinyGpt, "--no-progress"],
    env: { TURBINE_ELASTIC: "maybe" },
    code: 2,
    says: /^turbine: TURBINE_ELASTIC holds "maybe", not the segment `turbine launch --max-restarts` sets .*; unset TURBINE_ELASTIC to train on its own$/,
  },
  {
    args: ["train", tinyGpt, "--no-progress"],
    env: { TURBINE_ELASTIC: '{"runDir":"runs/x","restart":"no","from":null}' },
    code: 2,
    says: /^turbine: TURBINE_ELASTIC holds .*, not the segment/,
  },
  {
    args: ["train", "gpt-chr"],
    code: 2,
    says: /config gpt-chr: cannot read it \(ENOENT\), and it is not a built-in config \(cnn, gpt-char, gpt-char-bf16, mlp\); turbine train --list shows them/,
  },
  { args: ["train", "--set", "train.epochs"], code: 2, says: /--set "train\.epochs": expected path=value/ },
  { args: ["train", "--set", "__proto__.x=1"], code: 2, says: /--set "__proto__\.x=1": '__proto__' is no config field/ },
  { args: ["train", "--set", "model.constructor.prototype=1"], code: 2, says: /'constructor' is no config field/ },
  {
    args: ["train", "--set", "toString=1"],
    code: 2,
    says: /^turbine: config \(built-in default\) is invalid: toString: unknown field; allowed here: name, outDir/,
  },
  {
    args: ["train", tinyGpt, "--set", "data.kind=tokens", "--set", `data.path=${join(work, "tiny.tokens")}`],
    code: 2,
    says: /TokenFileDataset\(val\): 2 tokens of .*tiny\.tokens are too few for one window of context 8 \+ 1 target; give a longer text or a smaller model\.context \(8\)/,
  },
  {
    args: ["train", tinyGpt, "--set", "data.valBatches=1000"],
    code: 2,
    says: /2000 validation windows exceed the \d+ this text holds; .*data\.valBatches × data\.batchSize = 2000 windows/,
  },
  // found by the flags fuzz (flags_fuzz.test.ts): values the schema or the parser let through
  // (100000000 is refused before that, by the memory floor: its activations alone need a terabyte)
  {
    args: ["train", "mlp", "--set", "data.batchSize=100000"],
    code: 2,
    says: /^turbine: config: data\.batchSize 100000 is larger than the training set \(60000 samples\); give data\.batchSize ≤ 60000/,
  },
  {
    args: ["train", "mlp", "--set", "data.batchSize=100000000"],
    code: 2,
    says: /^turbine: config: a batch of data\.batchSize 100000000 keeps at least [\d.]+ TiB of activations and this machine has .* of memory; lower data\.batchSize$/,
  },
  { args: ["train", ""], code: 2, says: /^turbine: config "": the path is empty; give a config file or a built-in name/ },
  { args: ["train", tinyGpt, "--set", "train.threads=5000"], code: 2, says: /train\.threads: got 5000; expected a number ≤ 1024/ },
  // Sizes that cannot fit are refused from the config, before building (this was an allocation failure, exit 1, after seconds).
  {
    args: ["train", tinyGpt, "--set", "model.width=1000000000", "--set", "model.heads=1"],
    code: 2,
    says: /^turbine: config: the model \(model\.layers 1, model\.width 1000000000, model\.context 8\) has [\d,]+ parameters, .* and this machine has .* of memory; lower the model's sizes$/,
  },
  // (this one built for minutes, growing memory)
  {
    args: ["train", tinyGpt, "--set", "model.layers=100000000"],
    code: 2,
    says: /^turbine: config: the model \(model\.layers 100000000, model\.width 8, model\.context 8\) has 87,200,000,088 parameters, .*; lower the model's sizes$/,
  },
  {
    args: ["launch", "-n", "2", "--", "train", tinyGpt, "--set", "model.layers=100000000"],
    code: 2,
    says: /^turbine: config: the model \(model\.layers 100000000, .* per rank, 2 ranks on this machine, and this machine has .*; lower the model's sizes$/,
  },
  { args: ["train", tinyGpt, "--set", "model.heads=3"], code: 2, says: /^turbine: config: model\.width 8 is not a multiple of model\.heads 3; / },
  {
    args: ["train", "cnn", "--set", "model.channels=[8,8,8,8]"],
    code: 2,
    says: /^turbine: config: model\.channels has 4 stages; a 28×28 image allows at most 3 /,
  },
  { args: ["sample"], code: 2, says: /^turbine: sample: required option '--checkpoint <dir>' not specified; see turbine sample --help$/ },
  {
    args: ["sample", "--checkpoint", checkpoints, "--tokens", "many"],
    code: 2,
    says: /sample: option '--tokens <n>' argument 'many' is invalid\. expected an integer from 0 to 1000000/,
  },
  {
    args: ["sample", "--checkpoint", checkpoints, "--tokens", "1e15"],
    code: 2,
    says: /sample: option '--tokens <n>' argument '1e15' is invalid\. expected an integer from 0 to 1000000; see turbine sample --help$/,
  },
  { args: ["sample", "--checkpoint", checkpoints, "--temperature", "-1"], code: 2, says: /argument '-1' is invalid\. expected a number ≥ 0/ },
  { args: ["sample", "--checkpoint", checkpoints, "--top-k", "2.5"], code: 2, says: /argument '2\.5' is invalid\. expected an integer ≥ 0/ },
  {
    args: ["sample", "--checkpoint", checkpoints, "--top-k", "99"],
    code: 2,
    says: /sample: --top-k 99 exceeds the model's vocabulary of 16 characters; give 0 to 16/,
  },
  { args: ["sample", "--checkpoint", checkpoints, "--prompt", ""], code: 2, says: /sample: --prompt is empty; .*; leave --prompt out to start from a newline/ },
  {
    args: ["sample", "--checkpoint", checkpoints, "--prompt", "Light, zz!"],
    code: 2,
    says: /sample: --prompt has characters outside the model's vocabulary of 16: "L", ",", "z", "!"; /,
  },
  { args: ["sample", "--checkpoint", join(work, "a-folder")], code: 1, says: /no checkpoint in .*a-folder/ },
  { args: ["sample", "--checkpoint", join(work, "no-such-run")], code: 2, says: /sample: --checkpoint .*no-such-run does not exist; give a run folder/ },
  // bench
  {
    args: ["bench", "--workloads", "mlp,rnn"],
    code: 2,
    says: /bench: option '--workloads <list>' argument 'mlp,rnn' is invalid\. unknown workload "rnn"; expected mlp, cnn, gpt/,
  },
  { args: ["bench", "--precision", "fp8"], code: 2, says: /argument 'fp8' is invalid\. Allowed choices are f32, bf16; see turbine bench --help$/ },
  { args: ["bench", "--repeats", "0"], code: 2, says: /argument '0' is invalid\. expected an integer from 1 to 1000/ },
  { args: ["bench", "--steps", "1e15"], code: 2, says: /bench: option '--steps <n>' argument '1e15' is invalid\. expected an integer from 1 to 1000000/ },
  { args: ["bench", "--ops", "rnn"], code: 2, says: /option '--ops <workload>' argument 'rnn' is invalid/ },
  { args: ["bench", "--compile", "--warmup", "2"], code: 2, says: /bench: --compile needs --warmup of at least 3 .*got 2/ },
  { args: ["bench", "--compile", "--time-to-quality"], code: 2, says: /bench: --compile applies to the throughput rows, not to --time-to-quality/ },
  // data prepare
  { args: ["data"], code: 2, says: /^turbine: data: a command is needed; see turbine data --help$/, afterHelp: true },
  { args: ["data", "prepare", "x.txt"], code: 2, says: /data prepare: missing required argument 'out'; see turbine data prepare --help$/ },
  { args: ["data", "prepare", "missing.txt", "out.tokens"], code: 1, says: /missing\.txt: no such text file/ },
  { args: ["data", "prepare", "a-folder", "out.tokens"], code: 1, says: /a-folder: cannot read the text file \(EISDIR\)/ },
  { args: ["data", "prepare", "", "out.tokens"], code: 2, says: /^turbine: data prepare: <text> is an empty path; give a file name/ },
  { args: ["data", "prepare", "tiny.txt", " "], code: 2, says: /^turbine: data prepare: <out> is an empty path/ },
  {
    args: ["data", "prepare", "tiny.txt", "./tiny.txt"],
    code: 2,
    says: /^turbine: data prepare: <out> \.\/tiny\.txt is the text file itself, which the token file would replace/,
  },
  {
    args: ["bench", "--ops", "mlp", "--threads", "5000"],
    code: 2,
    says: /option '--threads <n>' argument '5000' is invalid\. expected an integer from 1 to 1024/,
  },
  // launch
  {
    args: ["launch", "-n", "100000", "--", "train"],
    code: 2,
    says: /^turbine: launch: the threads backend runs at most 256 ranks, got 100000; use --backend mpi for more$/,
  },
  { args: ["launch", "-n", "2", "--threads-per-worker", "5000", "--", "train"], code: 2, says: /launch: --threads-per-worker must be at most 1024, got 5000/ },
  { args: ["launch", "--", "train"], code: 2, says: /launch: how many ranks\? give -n N \(in all\) or --nproc-per-node N/ },
  { args: ["launch", "-n", "0", "--", "train"], code: 2, says: /launch: -n must be a positive integer, got "0"/ },
  { args: ["launch", "-n", "2", "--backend", "nccl", "--", "train"], code: 2, says: /launch: --backend must be threads or mpi, got "nccl"/ },
  {
    args: ["launch", "-n", "2", "--", "fly"],
    code: 2,
    says: /launch: each rank runs a turbine command \(train, sample, bench, data, checkpoint(, [a-z]+)*\), got "fly"/,
  },
  {
    args: ["launch", "-n", "2", "--set", "train.steps=1", "train"],
    code: 2,
    says: /launch: unknown option '--set'; put the command each rank runs after --, e.g\. turbine launch -n 2 -- train/,
  },
  {
    args: ["launch", "-n", "2", "--", "train", "nope.json"],
    code: 2,
    says: /^turbine: config nope\.json: cannot read it \(ENOENT\), and it is not a built-in config \(.*\); turbine train --list shows them$/,
  },
  {
    args: ["launch", "-n", "2", "--backend", "mpi", "--", "train", "mlp", "--set", "train.steps=0"],
    code: 2,
    says: /^turbine: config mlp is invalid: train\.steps: got 0; expected a number ≥ 1$/,
  },
  { args: ["launch", "-n", "2", "--", "train", "--bogus"], code: 2, says: /^turbine: train: unknown option '--bogus'; see turbine train --help$/ },
  { args: ["launch", "-n", "2", "--timeout", "soon", "--", "train"], code: 2, says: /launch: --timeout must be a positive integer, got "soon"/ },
  { args: ["launch", "--nnodes", "2", "--nproc-per-node", "2", "--", "train"], code: 2, says: /launch: --nnodes 2 needs --backend mpi/ },
  { args: ["launch", "-n", "3", "--nproc-per-node", "2", "--", "train"], code: 2, says: /-n 3 and --nproc-per-node 2 disagree/ },
  { args: ["launch", "-n", "2", "--hostfile", "hosts", "--", "train"], code: 2, says: /launch: --hostfile needs --backend mpi/ },
  {
    args: ["launch", "-n", "2", "--backend", "mpi", "--hostfile", "no-hosts", "--", "train"],
    code: 2,
    says: /launch: --hostfile no-hosts: cannot read it \(ENOENT\)/,
  },
  {
    args: ["launch", "-n", "2", "--backend", "mpi", "--hostfile", "hosts-bad", "--", "train"],
    code: 2,
    says: /launch: hosts-bad:2: expected "HOST \[slots=N\] \[max_slots=N\]", got "node2 slot=2"/,
  },
  {
    args: ["launch", "--nnodes", "2", "--nproc-per-node", "1", "--backend", "mpi", "--hostfile", "hosts-one", "--", "train"],
    code: 2,
    says: /hosts-one lists 1 host\(s\); --nnodes 2 needs 2/,
  },
  {
    args: ["launch", "--nproc-per-node", "4", "--backend", "mpi", "--hostfile", "hosts-one", "--", "train"],
    code: 2,
    says: /hosts-one:2: node1 has slots=2, fewer than --nproc-per-node 4/,
  },
  {
    args: ["launch", "--nnodes", "2", "--nproc-per-node", "1", "--backend", "mpi", "--", "train"],
    code: 2,
    says: /--nnodes 2 needs --hostfile \(or a Slurm allocation\)/,
  },
];

for (const c of cases) {
  const env = Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${v} `);
  test(`${env.join("")}turbine ${c.args.map((a) => (a === "" ? '""' : a)).join(" ")} → exit ${c.code}, one line`, { timeout: 120_000 }, () => {
    const r = turbine(c.args, c.env);
    assert.equal(r.code, c.code, `exit code; stderr: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    if (c.afterHelp) assert.match(r.stderr, /^Usage: turbine /);
    else assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
    assert.match(lines.at(-1)!, c.says);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack frames");
  });
}

test("turbine --version prints the package's version and exits 0", () => {
  const r = turbine(["--version"]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), (JSON.parse(readFileSync(join(repoRoot(), "package.json"), "utf8")) as { version: string }).version);
});

test("turbine sample --temperature 0 is greedy: the same text whatever the seed; --top-k 0 samples as without it", () => {
  const greedy = (seed: string): string => {
    const r = turbine(["sample", "--checkpoint", checkpoints, "--prompt", "and ", "--tokens", "40", "--temperature", "0", "--seed", seed]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  assert.equal(greedy("1"), greedy("2"));
  const sampled = (extra: string[]): string =>
    turbine(["sample", "--checkpoint", checkpoints, "--prompt", "and ", "--tokens", "40", "--seed", "3", ...extra]).stdout;
  assert.equal(sampled(["--top-k", "0"]), sampled([]));
  assert.notEqual(sampled(["--seed", "4"]), sampled([]), "sampling does depend on the seed");
});

test("turbine sample reads a mixture-of-experts gpt's checkpoint (it built a dense model: exit 70 and a stack trace)", () => {
  const trained = turbine(["train", tinyGpt, "--no-progress", "--set", "name=moe", "--set", "model.moe={experts: 2}"]);
  assert.equal(trained.code, 0, trained.stderr);
  const r = turbine(["sample", "--checkpoint", join(work, "runs", "moe", "version_0"), "--prompt", "and ", "--tokens", "5"]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith("and "), r.stdout);
});
