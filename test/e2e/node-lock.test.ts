// The machine's test-node lock (test/support/node-lock.ts): one holder at a time, a second run
// waits and says who holds it, a lock of a dead process is taken over. Real processes, a lock
// file of their own (not the machine's).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockNode } from "../support/node-lock.ts";
import { waitFor } from "../support/wait.ts";

const HOLDER = join(import.meta.dirname, "lock-holder.ts");

interface Holder {
  child: ChildProcess;
  output(): string;
  exited: Promise<unknown>;
}

function holder(path: string, timeoutMs: number): Holder {
  // The same loader flags as this process (none on a Node that strips types itself).
  const flags = process.execArgv.filter((flag) => !flag.startsWith("--test"));
  const child = spawn(process.execPath, [...flags, HOLDER, path, String(timeoutMs)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output, exited: once(child, "exit") };
}

const lockPath = (): string => join(mkdtempSync(join(tmpdir(), "floxide-lock-")), "node.lock");
const said = (h: Holder, text: string, timeoutMs = 20_000): Promise<boolean> =>
  waitFor(() => h.output().includes(text), {
    timeoutMs,
    message: `"${text}" from the holder: ${h.output()}`,
  });

test("a second run waits for the lock, saying who holds it, and gets it once released", async () => {
  const path = lockPath();
  const first = await lockNode({ path });
  const second = holder(path, 60_000);
  await said(second, "another test run holds the node lock");
  assert.match(second.output(), new RegExp(`pid ${process.pid} since`));
  assert.doesNotMatch(second.output(), /locked\n/);
  first.release();
  await said(second, "locked\n");
  assert.equal(JSON.parse(readFileSync(path, "utf8")).pid, second.child.pid);
  second.child.stdin?.end("release\n");
  await second.exited;
  assert.equal(second.child.exitCode, 0, second.output());
  assert.equal(existsSync(path), false, "released: the file is gone");
});

test("a run that cannot get the lock in time fails, naming the holder and what to do", async () => {
  const path = lockPath();
  const first = await lockNode({ path });
  try {
    const second = holder(path, 300);
    await second.exited;
    assert.equal(second.child.exitCode, 1);
    assert.match(
      second.output(),
      new RegExp(`failed: another test run holds the node lock .*pid ${process.pid}`),
    );
    assert.match(second.output(), /wait for it to finish, or stop it/);
  } finally {
    first.release();
  }
});

test("the lock of a process killed with SIGKILL is taken over", async () => {
  const path = lockPath();
  const killed = holder(path, 10_000);
  await said(killed, "locked\n");
  killed.child.kill("SIGKILL");
  await killed.exited;
  assert.equal(JSON.parse(readFileSync(path, "utf8")).pid, killed.child.pid, "the lock is left behind");
  const lines: string[] = [];
  const lock = await lockNode({ path, timeoutMs: 10_000, log: (line) => lines.push(line) });
  assert.match(lines.join("\n"), new RegExp(`took over .*pid ${killed.child.pid}.* is gone`));
  assert.equal(JSON.parse(readFileSync(path, "utf8")).pid, process.pid);
  lock.release();
});

test("a lock of a dead process is taken over at once, even with no time to wait", async () => {
  const path = lockPath();
  const killed = holder(path, 10_000);
  await said(killed, "locked\n");
  killed.child.kill("SIGKILL");
  await killed.exited;
  const lock = await lockNode({ path, timeoutMs: 0 });
  assert.equal(JSON.parse(readFileSync(path, "utf8")).pid, process.pid);
  lock.release();
});

test("a lock naming a live pid with another start time (a recycled pid) is taken over", async () => {
  const path = lockPath();
  writeFileSync(path, JSON.stringify({ pid: process.pid, startTime: "1", command: "gone", since: "then" }));
  const lock = await lockNode({ path, timeoutMs: 10_000 });
  assert.notEqual(JSON.parse(readFileSync(path, "utf8")).startTime, "1");
  lock.release();
});
