#!/usr/bin/env node
// The `floxide` command (package.json `bin`, compiled to dist/cli/bin.js). It checks the Node
// version against package.json's engines before running a command on an older Node; help and
// completion load nothing that needs a newer Node, so they answer anyway (with the warning).
import { createRequire } from "node:module";

const args = process.argv.slice(2);
const onlyHelp =
  args.length === 0 ||
  args.includes("--help") ||
  args.includes("-h") ||
  args[0] === "help" ||
  args[0] === "completion";

const { engines } = createRequire(import.meta.url)("floxide-k8s/package.json") as {
  engines: { node: string };
};
const floor = /(\d+)\.(\d+)\.(\d+)/.exec(engines.node)?.slice(1).map(Number) ?? [0, 0, 0];
const current = process.versions.node.split(".").map(Number);
const older = floor.findIndex((part, i) => part !== current[i]);
if (older >= 0 && (current[older] ?? 0) < (floor[older] ?? 0)) {
  process.stderr.write(
    `floxide: Node.js ${engines.node} is required, this is ${process.version}: install a current Node.js (26 is the reference line)\n`,
  );
  if (!onlyHelp) process.exit(1);
}
const { main } = await import("./main.ts");
process.exitCode = await main(args);
