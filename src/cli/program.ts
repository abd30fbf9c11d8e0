import { readFileSync } from "node:fs";
import { join } from "node:path";

import { Command } from "commander";

import { packageRoot } from "../package_root.js";
import { registerBench } from "./bench.js";
import { registerCheckpoint } from "./checkpoint.js";
import { registerData } from "./data.js";
import { registerFederated } from "./federated.js";
import { UsageError } from "./errors.js";
import { LAUNCH_SEPARATOR_HINT, registerLaunch } from "./launch.js";
import { checkTracePath, registerProfile } from "./profile.js";
import { registerPlan } from "./plan.js";
import { registerPrune } from "./prune.js";
import { registerReport } from "./report.js";
import { registerTune } from "./tune.js";
import { registerSample } from "./sample.js";
import { registerSearch } from "./search.js";
import { registerTrain, type TrainCommand, trainConfig } from "./train.js";

/** The version of the installed package, from its package.json. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
}

/** The words that name a command from the top, e.g. "turbine data prepare". */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** The prefix of a command's messages after the CLI's own "turbine: ", e.g. "data prepare: ". */
function messagePrefix(command: Command): string {
  const path = commandPath(command).split(" ").slice(1).join(" ");
  return path === "" ? "" : `${path}: `;
}

/**
 * Commander's message (e.g. "error: unknown command 'trian'\n(Did you mean train?)") as one line
 * without its "error: " prefix.
 */
function oneLine(message: string): string {
  return message
    .replace(/^error: /, "")
    .replace(/\n\(Did you mean (.*)\?\)/, " (did you mean $1?)")
    .replace(/\s*\n\s*/g, " ")
    .replace(/\.$/, "");
}

/**
 * Makes a command and its subcommands report commander's usage errors as a UsageError (exit 2,
 * one line naming the command's help) instead of printing the whole help and exiting 1. Help
 * and --version still end the program with code 0, as a CommanderError.
 */
function reportUsageErrors(command: Command): void {
  command.configureOutput({ outputError: () => {} }).showHelpAfterError(false);
  command.exitOverride((error) => {
    if (error.exitCode === 0 || error.code === "commander.helpDisplayed" || error.code === "commander.version") throw error;
    // `turbine` alone prints the help (to stderr) and is a usage error.
    if (error.code === "commander.help") throw new UsageError(`${messagePrefix(command)}a command is needed`, `see ${commandPath(command)} --help`);
    // An option of the rank's command given before the command itself: launch knows no such option.
    const hint = command.name() === "launch" && error.code === "commander.unknownOption" ? LAUNCH_SEPARATOR_HINT : `see ${commandPath(command)} --help`;
    throw new UsageError(`${messagePrefix(command)}${oneLine(error.message)}`, hint);
  });
  for (const sub of command.commands) reportUsageErrors(sub);
}

/**
 * The `turbine` command line: train, sample, bench, data, checkpoint, report, search and (unless `launch` is false, as in a
 * launched rank) launch. Usage errors throw a UsageError; help and --version throw a
 * CommanderError with exit code 0.
 * @example await turbineProgram().parseAsync(["train", "gpt-char"], { from: "user" });
 */
export function turbineProgram(options: { launch?: boolean } = {}): Command {
  const program = new Command()
    .name("turbine")
    .description("train neural networks fast on Node.js")
    .version(packageVersion(), "-V, --version")
    // launch passes everything after its command to the ranks.
    .enablePositionalOptions();
  registerTrain(program);
  registerSample(program);
  registerBench(program);
  registerData(program);
  registerCheckpoint(program);
  registerProfile(program);
  if (options.launch ?? true) registerLaunch(program, { commands: program.commands.map((c) => c.name()), check: checkRankCommand });
  // After launch: a plan, a report or a tune is no command to run on several ranks (tune --ranks runs its own).
  registerPlan(program);
  registerReport(program);
  registerTune(program);
  registerSearch(program);
  registerPrune(program);
  registerFederated(program);
  reportUsageErrors(program);
  refuseHelpOfUnknownCommands(program);
  return program;
}

/**
 * `turbine trian --help` would print the top-level help and exit 0 (commander answers a help flag
 * before it looks the command up): a command that does not exist is an unknown command (exit 2,
 * with commander's suggestion), whatever flags follow it.
 */
function refuseHelpOfUnknownCommands(program: Command): void {
  const known = new Set(program.commands.flatMap((c) => [c.name(), ...c.aliases()]));
  const parse = program.parseAsync.bind(program);
  program.parseAsync = (argv?: readonly string[], options?: { from: "node" | "electron" | "user" }) => {
    const args = [...(argv ?? process.argv)];
    const first = options?.from === "user" ? 0 : 2;
    const name = args[first];
    const asksHelp = args.slice(first).some((a) => a === "--help" || a === "-h");
    if (name !== undefined && !name.startsWith("-") && !known.has(name) && asksHelp)
      return parse(
        args.filter((a, i) => i < first || (a !== "--help" && a !== "-h")),
        options,
      );
    return parse(args, options);
  };
}

/**
 * Checks a command line of a launched rank in this process, running no command: its usage (as
 * every rank would parse it) and, for train, its config. So a mistake is reported once, before
 * any rank or mpirun starts. Throws what the rank would throw; a CommanderError with exit code 0
 * when the line asked for help (printed here, once). Returns a train command's config (and the
 * run it resumes), null for any other command.
 * @example await checkRankCommand(["train", "gpt-char", "--set", "train.steps=10"]);
 */
export async function checkRankCommand(argv: string[]): Promise<TrainCommand | null> {
  const program = turbineProgram({ launch: false });
  const leaves = (c: Command): Command[] => (c.commands.length === 0 ? [c] : c.commands.flatMap(leaves));
  for (const command of leaves(program)) command.action(() => {});
  let train: TrainCommand | null = null;
  program.commands
    .find((c) => c.name() === "train")!
    .action((file: string | undefined, opts: { set: string[]; resume?: string; list?: boolean; helpConfig?: boolean }) => {
      if (!opts.list && !opts.helpConfig) train = { config: trainConfig(file, opts), ...(opts.resume !== undefined ? { resume: opts.resume } : {}) };
    });
  // A profile's config and trace file are checked once, before any rank starts.
  program.commands
    .find((c) => c.name() === "profile")!
    .action((file: string | undefined, opts: { set: string[]; trace?: string }) => {
      trainConfig(file, opts);
      if (opts.trace !== undefined) checkTracePath(opts.trace);
    });
  await program.parseAsync(argv, { from: "user" });
  return train;
}
