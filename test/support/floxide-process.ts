/**
 * The `floxide` command as a child process, the way a user runs it: this checkout's
 * cli/main.ts on the Node running the tests, or an installed bin (`bin`). Its output is kept
 * as it arrives; `seen` waits (with a deadline) for a line on stdout.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { waitFor } from "./wait.ts";

export interface FloxideOptions {
  /** An installed `floxide` executable; default: `node cli/main.ts` of this checkout. */
  readonly bin?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface FloxideProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** Waits until stdout matches; on timeout the error names `what` and shows both outputs. */
  seen(pattern: RegExp, what: string, timeoutMs?: number): Promise<void>;
  /** Ends the process with SIGKILL if it still runs (test cleanup). */
  kill(): void;
}

export function startFloxide(args: readonly string[], options: FloxideOptions = {}): FloxideProcess {
  const [command, argv] =
    options.bin === undefined ? [process.execPath, ["cli/main.ts", ...args]] : [options.bin, [...args]];
  const child = spawn(command, argv, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: options.env ?? process.env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    seen: async (pattern, what, timeoutMs = 30_000) => {
      await waitFor(() => pattern.test(stdout), {
        timeoutMs,
        intervalMs: 50,
        message: `${what}\n${stdout}\n${stderr}`,
      });
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

/** Runs `floxide` to its end (killed after `timeoutMs`): its exit code and output. */
export async function runFloxide(
  args: readonly string[],
  options: FloxideOptions & { readonly timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const process = startFloxide(args, options);
  process.child.stdin.end();
  const timer = setTimeout(() => process.kill(), options.timeoutMs ?? 90_000);
  try {
    const code = await process.exited;
    return { code, stdout: process.stdout(), stderr: process.stderr() };
  } finally {
    clearTimeout(timer);
  }
}
