// One test node per machine (the bridge, the cgroup root, the sysctls and /tmp/floxide-node are
// global, and a start sweeps whatever an earlier node left, processes included): two test runs
// must not hold a node at once. The lock is a file naming its owner (pid and the process's start
// time, so a recycled pid is not taken for the owner). A second run waits for it, saying who
// holds it; a lock whose owner is gone (a run killed with SIGKILL) is taken over.
// Machine-wide, not in the cache directory: two runs with different caches still share the host.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { waitFor } from "./wait.ts";

export const NODE_LOCK = "/tmp/floxide-node.lock";
/** Seconds a run waits for another run's node (default 30 min: longer than one e2e run). */
export const NODE_LOCK_TIMEOUT_ENV = "FLOXIDE_NODE_LOCK_TIMEOUT_S";

interface LockOwner {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: the process's start, in clock ticks since boot. */
  startTime: string;
  command: string;
  since: string;
}

export interface NodeLock {
  path: string;
  /** Removes the lock if this process still owns it (synchronous: usable in an exit handler). */
  release(): void;
}

export interface LockOptions {
  path?: string;
  timeoutMs?: number;
  intervalMs?: number;
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command (field 2) may hold spaces and parentheses: count fields after its last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, "utf8")) as Partial<LockOwner>;
    return typeof owner.pid === "number" && typeof owner.startTime === "string"
      ? (owner as LockOwner)
      : undefined;
  } catch {
    return undefined;
  }
}

const alive = (owner: LockOwner): boolean => startTimeOf(owner.pid) === owner.startTime;
const describe = (owner: LockOwner): string =>
  `pid ${owner.pid} since ${owner.since}: ${owner.command.slice(0, 160)}`;

function timeoutFrom(env: NodeJS.ProcessEnv): number {
  const raw = env[NODE_LOCK_TIMEOUT_ENV];
  if (raw === undefined || raw === "") return 30 * 60_000;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`${NODE_LOCK_TIMEOUT_ENV}=${raw}: expected a number of seconds >= 0`);
  }
  return seconds * 1000;
}

/**
 * Takes the machine's test-node lock, waiting while a live run holds it. Rejects after the
 * timeout naming the holder. A lock left by a dead process, or one that cannot be read (a
 * writer killed mid-write), is taken over and reported through `log`.
 */
export async function lockNode(options: LockOptions = {}): Promise<NodeLock> {
  const path = options.path ?? NODE_LOCK;
  const log = options.log ?? (() => undefined);
  const timeoutMs = options.timeoutMs ?? timeoutFrom(options.env ?? process.env);
  const me: LockOwner = {
    pid: process.pid,
    startTime: startTimeOf(process.pid) ?? "?",
    command: process.argv.join(" "),
    since: new Date().toISOString(),
  };
  const mine = JSON.stringify(me);
  let told = false;
  const tryTake = (): boolean => {
    try {
      writeFileSync(path, mine, { flag: "wx" });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const owner = readOwner(path);
    if (owner && alive(owner)) {
      if (!told) {
        told = true;
        log(
          `another test run holds the node lock ${path} (${describe(owner)}); waiting up to ` +
            `${Math.round(timeoutMs / 1000)} s for it (${NODE_LOCK_TIMEOUT_ENV})`,
        );
      }
      return false;
    }
    // Gone (or half written): remove it unless a live run replaced it meanwhile, then race for it.
    const again = readOwner(path);
    if (again && alive(again)) return false;
    rmSync(path, { force: true });
    try {
      writeFileSync(path, mine, { flag: "wx" });
    } catch (error) {
      // Another run took it first: wait for that one like any other holder.
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw error;
    }
    log(
      `took over the node lock ${path}: ${owner ? `its owner (${describe(owner)}) is gone` : "unreadable"}`,
    );
    return true;
  };
  try {
    await waitFor(tryTake, {
      timeoutMs,
      intervalMs: options.intervalMs ?? 500,
      message: `the test-node lock ${path}`,
    });
  } catch (error) {
    const owner = readOwner(path);
    throw new Error(
      `another test run holds the node lock ${path}${owner ? ` (${describe(owner)})` : ""}: ` +
        `wait for it to finish, or stop it, then run again (a lock of a dead process is taken over)`,
      { cause: error },
    );
  }
  return {
    path,
    release: () => {
      if (readOwner(path)?.pid === me.pid && readOwner(path)?.startTime === me.startTime) {
        rmSync(path, { force: true });
      }
    },
  };
}
