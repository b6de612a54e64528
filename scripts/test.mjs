// `npm test`: provisions what the suites need (scripts/provision.sh: redis-server, hadolint,
// chromium, the Kubernetes test binaries, the reference and floor Node lines), then typechecks, lints and runs
// every test file under the reference Node, and the test files again under the floor Node.
//
//   node scripts/test.mjs [--no-provision] [--only-reference] [path...]
//
// --no-provision uses what is there (a missing tool then fails the tests that need it, naming
// the command that installs it); --only-reference skips the floor pass; paths narrow the test
// files (folders or files; default test/). Plain JavaScript: it starts on any Node with npm.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { FLOOR, provision, REFERENCE, ROOT } from "./node-runtime.mjs";

const args = process.argv.slice(2);
const flag = (name) => {
  const at = args.indexOf(name);
  if (at >= 0) args.splice(at, 1);
  return at >= 0;
};
if (flag("--help") || flag("-h")) {
  console.log("usage: node scripts/test.mjs [--no-provision] [--only-reference] [path...]");
  process.exit(0);
}
const noProvision = flag("--no-provision");
const onlyReference = flag("--only-reference");
const paths = args;

const started = Date.now();
const provided = noProvision ? provision(["node-reference", "node-floor"]) : provision([]);
const env = { ...process.env, PATH: provided.PATH, FLOXIDE_K8S_ASSETS: provided.FLOXIDE_K8S_ASSETS };
// Package bins by path: their package.json exports do not list them.
const bin = (path) => join(ROOT, "node_modules", path);

function step(title, node, argv) {
  console.log(`\n[test] ${title}`);
  const result = spawnSync(node, argv, { cwd: ROOT, env, stdio: "inherit" });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

const reference = provided.FLOXIDE_NODE_REFERENCE;
const floor = provided.FLOXIDE_NODE_FLOOR;
const failures = [];
const run = (title, node, argv) => {
  if (step(title, node, argv) !== 0) failures.push(title);
};

run("typecheck (tsc --noEmit)", reference, [bin("typescript/bin/tsc"), "--noEmit", "-p", "tsconfig.json"]);
run("lint (eslint)", reference, [bin("eslint/bin/eslint.js"), "."]);
run("format (prettier --check)", reference, [bin("prettier/bin/prettier.cjs"), "--check", "."]);
run(`tests on Node ${REFERENCE} (reference)`, reference, ["scripts/run-tests.mjs", ...paths]);
if (!onlyReference) run(`tests on Node ${FLOOR} (floor)`, floor, ["scripts/run-tests.mjs", ...paths]);

const seconds = Math.round((Date.now() - started) / 1000);
if (failures.length > 0) {
  console.log(`\n[test] FAILED after ${seconds}s: ${failures.join("; ")}`);
  process.exit(1);
}
console.log(`\n[test] passed in ${seconds}s`);
