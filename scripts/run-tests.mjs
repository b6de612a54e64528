// Runs every *.test.ts under the given folders (default: test/) with Node's test runner on the
// Node that runs this script (type stripping: no loader). scripts/test.mjs calls it once per
// Node line; run it alone for a quick pass: `node scripts/run-tests.mjs test/unit`.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log("usage: node scripts/run-tests.mjs [path...]   (default: test/; e2e files run alone, last)");
  console.log("env: FLOXIDE_TEST_CONCURRENCY (default 2) test files at once");
  process.exit(0);
}
const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["test"];
const files = [];
const walk = (dir) => {
  if (!statSync(dir).isDirectory()) {
    files.push(dir);
    return;
  }
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith(".test.ts")) files.push(path);
  }
};
for (const root of roots) walk(root);
if (files.length === 0) {
  console.error(`no test files under ${roots.join(", ")}`);
  process.exit(1);
}
// The e2e suite (a kubelet, containerd and image builds) runs alone after the others, so it
// neither starves nor is starved by the timing-sensitive suites (chaos) on a 2-core machine.
const alone = files.filter((file) => file.split(/[\\/]/).includes("e2e"));
const together = files.filter((file) => !alone.includes(file));
const concurrency = process.env.FLOXIDE_TEST_CONCURRENCY ?? "2";
const run = (batch, parallel) =>
  batch.length === 0
    ? 0
    : (spawnSync(
        process.execPath,
        [
          // Every result reaches the report despite the forced exit below (test-flush.mjs).
          ...["--import", pathToFileURL(new URL("./test-flush.mjs", import.meta.url).pathname).href],
          ...["--test", `--test-concurrency=${parallel}`, "--test-reporter=spec"],
          // A file whose tests are done exits even if a failed test leaked a handle (a child
          // process, a socket): the failure is reported instead of hanging CI.
          "--test-force-exit",
          ...batch,
        ],
        { stdio: "inherit" },
      ).status ?? 1);
const first = run(together, concurrency);
const second = run(alone, "1");
process.exit(first !== 0 ? first : second);
