// Started by node-lock.test.ts: takes the node lock at argv[2] (waiting at most argv[3] ms),
// prints "locked", releases it when a line arrives on stdin, prints "released" and exits.
// Prints the lock's messages and errors on stdout as well, for the test to read.
import { createInterface } from "node:readline";
import { lockNode } from "../support/node-lock.ts";

const [path, timeoutMs] = process.argv.slice(2);
try {
  const lock = await lockNode({
    path,
    timeoutMs: Number(timeoutMs),
    intervalMs: 50,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write("locked\n");
  const lines = createInterface({ input: process.stdin });
  for await (const _ of lines) break;
  lock.release();
  process.stdout.write("released\n");
  lines.close();
} catch (error) {
  process.stdout.write(`failed: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
