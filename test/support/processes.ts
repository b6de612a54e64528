// Server processes for tests (control plane, test node): each in its own process group with
// its output in a log file, stopped with SIGTERM and, after a grace period, SIGKILL.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";

const STOP_GRACE_MS = 5_000;

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logPath: string;
  exited: Promise<void>;
}

export function spawnLogged(
  name: string,
  binary: string,
  args: string[],
  dir: string,
  env?: NodeJS.ProcessEnv,
): ManagedProcess {
  const logPath = join(dir, `${name}.log`);
  const fd = openSync(logPath, "a");
  // detached: its own process group, so stop() can signal it and anything it forked.
  const child = spawn(binary, args, { detached: true, stdio: ["ignore", fd, fd], env: env ?? process.env });
  closeSync(fd);
  // Do not keep the test process alive for it: its owner's exit hook kills it instead.
  child.unref();
  // "error" (e.g. the binary cannot be executed) may come instead of "exit".
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  return { name, child, logPath, exited };
}

export function isRunning(managed: ManagedProcess): boolean {
  const { child } = managed;
  return child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}

export async function terminate(managed: ManagedProcess): Promise<void> {
  if (!isRunning(managed)) return;
  // Children are unref'd; without this the test process could exit before they are gone.
  managed.child.ref();
  signalGroup(managed, "SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    managed.exited.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_GRACE_MS))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    signalGroup(managed, "SIGKILL");
    await managed.exited;
  }
}

export function signalGroup(managed: ManagedProcess, signal: NodeJS.Signals): void {
  const pid = managed.child.pid;
  if (pid === undefined || !isRunning(managed)) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone, which is what we wanted.
  }
}
