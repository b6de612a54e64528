/**
 * Line by line from a child process' output: the CLI's local fleet reads its workers' logs so,
 * and so do the tests' worker processes. A line is passed on once its newline has arrived.
 */
import type { Readable } from "node:stream";

/** Calls `onLine` with each complete line `stream` writes, without its newline. */
export function eachLine(stream: Readable | null, onLine: (line: string) => void): void {
  let buffer = "";
  stream?.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split("\n");
    buffer = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
}
