/**
 * The `floxide` command tree on commander: every command and subcommand with its options (from
 * the option tables), its help (usage, options, defaults, variables) and a lazily imported
 * action, so `--help` and completion load nothing heavy. Actions return the exit code.
 */
import { Command, Option } from "commander";
import { REDIS_OPTIONS, WORKER_OPTIONS, type OptionTable, type RawOptions } from "../contract/index.ts";
import { KUBE_SWITCH, READ_ONLY_SWITCH, UI_OPTIONS } from "../console/server/options.ts";
import { OPERATOR_OPTIONS } from "../operator/config.ts";
import {
  DEMO_OPTIONS,
  DEV_OPTIONS,
  GRAPH_OPTIONS,
  QUEUE_DEAD_OPTIONS,
  QUEUE_REDRIVE_OPTIONS,
  RUN_LIST_OPTIONS,
  RUN_START_OPTIONS,
  RUN_TARGET_OPTIONS,
  RUN_WAIT_OPTIONS,
} from "./command-options.ts";
import { addTableOptions, typedOptions } from "./options.ts";

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

/** What an action gets: its positional arguments, the typed flags of each table, --json. */
export interface Invocation {
  /** The subcommand's name (`start` for `floxide run start`). */
  readonly name: string;
  readonly args: readonly string[];
  readonly flags: RawOptions;
  readonly redis: RawOptions;
  readonly json: boolean;
  /** Boolean options given (`--wait`). */
  readonly switches: ReadonlySet<string>;
  readonly env: NodeJS.ProcessEnv;
}

type Action = (invocation: Invocation) => Promise<number>;

const EXIT_CODES = "Exit codes: 0 ok, 1 failed (run failed or not found, Redis unreachable), 2 usage error.";

/**
 * The program; `done(code)` receives the exit code of the action that ran. Commander's own
 * exits (help, usage errors) go through `exitOverride`, set by the caller.
 */
export function buildProgram(io: Io, done: (code: number) => void): Command {
  const program = new Command("floxide")
    .description("Floxide workflows on Redis and Kubernetes: workers, operator, runs, queues, local demo.")
    .usage("<command> [options]")
    .showHelpAfterError("(add --help for usage)")
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .helpCommand("help [command]", "show help for a command");
  program.addHelpText("after", `\nRun 'floxide <command> --help' for a command's options.\n${EXIT_CODES}`);

  const leaf = (
    parent: Command,
    nameAndArgs: string,
    description: string,
    tables: { readonly flags?: OptionTable; readonly redis?: boolean; readonly json?: boolean },
    action: () => Promise<Action>,
  ): Command => {
    const command = parent.command(nameAndArgs).description(description);
    if (tables.flags !== undefined) addTableOptions(command, tables.flags);
    if (tables.redis === true) addTableOptions(command, REDIS_OPTIONS);
    if (tables.json === true) command.option("--json", "print JSON instead of text");
    command.action(async (...received: unknown[]) => {
      const self = received.at(-1) as Command;
      const run = await action();
      done(
        await run({
          name: self.name(),
          args: self.args,
          flags: tables.flags === undefined ? {} : typedOptions(self, tables.flags),
          redis: tables.redis === true ? typedOptions(self, REDIS_OPTIONS) : {},
          json: self.getOptionValue("json") === true,
          switches: new Set(Object.keys(self.opts()).filter((key) => self.getOptionValue(key) === true)),
          env: io.env,
        }),
      );
    });
    return command;
  };

  leaf(
    program,
    "demo",
    "run the video example locally, autoscaled from zero, and print a summary",
    { flags: DEMO_OPTIONS, json: true },
    async () => (await import("./local/index.ts")).demoAction,
  ).addHelpText(
    "after",
    "\nExit codes: 0 every run completed, 1 some did not, 2 usage error, 130 interrupted (Ctrl-C drains the workers; a second one kills them).",
  );
  leaf(
    program,
    "dev [module]",
    "run your workflow locally, autoscaled, reloaded when its files change",
    { flags: DEV_OPTIONS },
    async () => (await import("./local/index.ts")).devAction,
  ).addHelpText(
    "after",
    "\nType a JSON input and Enter to start a run. A module that fails to load keeps the workers of the last one that loaded.\nExit codes: 0 after Ctrl-C, 1 the module does not load at start, 2 usage error.",
  );
  leaf(
    program,
    "worker",
    "run a worker process (configured by flags or FLOXIDE_* variables)",
    { flags: WORKER_OPTIONS },
    async () => {
      const { workerMain } = await import("../worker/main.ts");
      return ({ flags, env }) => workerMain(flags, env);
    },
  ).addHelpText(
    "after",
    "\nFlags win over variables, which win over defaults. Exit codes: 0 drained after SIGTERM, 1 startup fault, 2 invalid configuration.",
  );
  leaf(program, "operator", "run the WorkflowDeployment operator", { flags: OPERATOR_OPTIONS }, async () => {
    const { operatorMain } = await import("../operator/main.ts");
    return ({ flags, env }) => operatorMain(flags, env);
  }).addHelpText(
    "after",
    "\nExit codes: 0 clean shutdown, 1 startup fault or leadership lost, 2 invalid configuration.",
  );

  const run = program
    .command("run")
    .description("start, inspect and control runs")
    .usage("<command> [options]");
  run.addHelpText("after", `\n${EXIT_CODES}`);
  const runAction = async (): Promise<Action> => (await import("./run.ts")).runAction;
  leaf(
    run,
    "start <module>",
    "start a run of the workflow in <module>",
    {
      flags: { ...RUN_START_OPTIONS },
      redis: true,
      json: true,
    },
    runAction,
  ).option("--wait", "wait for the run to finish (exit 1 if it failed)");
  leaf(
    run,
    "status <run-id>",
    "a run's status and outputs",
    { flags: RUN_TARGET_OPTIONS, redis: true, json: true },
    runAction,
  );
  leaf(
    run,
    "wait <run-id>",
    "wait until a run finishes",
    { flags: RUN_WAIT_OPTIONS, redis: true, json: true },
    runAction,
  );
  for (const [name, text] of [
    ["cancel", "cancel a run"],
    ["pause", "pause a run (items in flight finish, nothing new starts)"],
    ["resume", "resume a paused run"],
  ] as const) {
    leaf(run, `${name} <run-id>`, text, { flags: RUN_TARGET_OPTIONS, redis: true, json: true }, runAction);
  }
  leaf(
    run,
    "list",
    "list runs, newest first",
    { flags: RUN_LIST_OPTIONS, redis: true, json: true },
    runAction,
  );
  leaf(
    run,
    "errors <run-id>",
    "a run's errors",
    { flags: RUN_TARGET_OPTIONS, redis: true, json: true },
    runAction,
  );
  leaf(
    run,
    "show <run-id>",
    "status, per-node table, errors, output and event timeline of a run",
    { flags: RUN_TARGET_OPTIONS, redis: true, json: true },
    runAction,
  );

  const queue = program
    .command("queue")
    .description("queue depth, workers and dead letters of a workflow")
    .usage("<command> [options]");
  const queueAction = async (): Promise<Action> => (await import("./queue.ts")).queueAction;
  leaf(
    queue,
    "stats <workflow-name>",
    "depth, live workers and counters",
    { redis: true, json: true },
    queueAction,
  );
  leaf(
    queue,
    "dead <workflow-name>",
    "the newest dead letters with their reason, oldest first",
    { flags: QUEUE_DEAD_OPTIONS, redis: true, json: true },
    queueAction,
  );

  leaf(
    queue,
    "redrive <workflow-name> <item-id>",
    "put a dead-lettered item back with a fresh attempt count (reviving its failed run), or --discard it",
    { flags: QUEUE_REDRIVE_OPTIONS, redis: true, json: true },
    async () => (await import("./queue-redrive.ts")).redriveAction,
  ).option("--discard", "drop the dead letter instead of redriving it");

  leaf(
    program,
    "ui",
    "serve the web console: workflows, runs, a run's graph and timeline, dead letters, workers",
    { flags: UI_OPTIONS, redis: true },
    async () => (await import("../console/server/main.ts")).uiAction,
  )
    .addOption(
      new Option(`--${READ_ONLY_SWITCH.flag}`, READ_ONLY_SWITCH.description).env(READ_ONLY_SWITCH.env),
    )
    .addOption(new Option(`--${KUBE_SWITCH.flag}`, KUBE_SWITCH.description).env(KUBE_SWITCH.env))
    .addHelpText(
      "after",
      "\nListens on 127.0.0.1 unless --host says otherwise; any other address needs --auth-token.\nExit codes: 0 stopped by SIGINT/SIGTERM, 1 Redis unreachable, 2 invalid configuration (e.g. no token beyond loopback).",
    );

  leaf(
    program,
    "graph <module>",
    "print a workflow's graph as Mermaid, DOT or JSON",
    { flags: GRAPH_OPTIONS, json: true },
    async () => (await import("./graph.ts")).graphAction,
  );

  program
    .command("completion")
    .description('print a shell completion script: eval "$(floxide completion bash)"')
    .argument("<shell>", "bash or zsh")
    .action(async (shell: string) => {
      const { completionScript } = await import("./completion.ts");
      if (shell !== "bash" && shell !== "zsh") {
        io.err(`floxide completion: shell must be bash or zsh, got '${shell}'\n`);
        done(2);
        return;
      }
      io.out(completionScript(program, shell));
      done(0);
    });
  return program;
}
