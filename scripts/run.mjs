// `npm run demo|floxide|bench|...`: runs a TypeScript entry with Node's type stripping, on this
// machine's Node when it is at least the floor, else on the reference Node that
// scripts/provision.sh fetches into its cache (saying so). Arguments pass through.
//   node scripts/run.mjs <entry.ts | node flags...> [args...]
import { spawn } from "node:child_process";
import { atLeast, FLOOR, provision, REFERENCE } from "./node-runtime.mjs";

if (process.argv[2] === undefined || process.argv[2] === "--help" || process.argv[2] === "-h") {
  console.log("usage: node scripts/run.mjs <entry.ts | node flags...> [args...]");
  console.log("runs the entry on this Node when it is at least " + FLOOR + ", else on Node " + REFERENCE);
  process.exit(process.argv[2] === undefined ? 2 : 0);
}
let node = process.execPath;
let env = process.env;
if (!atLeast(process.version, FLOOR)) {
  console.error(
    `[floxide] Node ${process.version} is older than the floor ${FLOOR}: using Node ${REFERENCE}`,
  );
  const provided = provision(["node-reference"]);
  node = provided.FLOXIDE_NODE_REFERENCE;
  env = { ...process.env, PATH: provided.PATH };
}
const child = spawn(node, process.argv.slice(2), { env, stdio: "inherit" });
// Ctrl-C reaches the child through the terminal's process group; SIGTERM is passed on.
process.on("SIGINT", () => undefined);
process.on("SIGTERM", () => child.kill("SIGTERM"));
child.on("exit", (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else process.exit(code ?? 1);
});
