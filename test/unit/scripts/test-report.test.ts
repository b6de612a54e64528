/**
 * The test command reports every test it ran: scripts/run-tests.mjs runs files in parallel with
 * `--test-force-exit`, which on its own loses the last results of some files and still exits 0
 * (nodejs/node#64833). 20 generated files of 50 tests each must all be reported.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const runTests = fileURLToPath(new URL("../../../scripts/run-tests.mjs", import.meta.url));

test("scripts/run-tests.mjs reports all 1,000 tests of 20 files run in parallel", () => {
  const dir = mkdtempSync(join(tmpdir(), "floxide-report-"));
  try {
    for (let file = 0; file < 20; file += 1) {
      const tests = Array.from(
        { length: 50 },
        (_, i) => `test(${JSON.stringify(`file ${file} test ${i} ${"x".repeat(300)}`)}, () => {});`,
      );
      writeFileSync(
        join(dir, `f${file}.test.ts`),
        `import { test } from "node:test";\n${tests.join("\n")}\n`,
      );
    }
    const run = spawnSync(process.execPath, [runTests, dir], {
      encoding: "utf8",
      // Without NODE_TEST_CONTEXT (set in this test process), the inner runner reports in text.
      env: { ...process.env, NODE_TEST_CONTEXT: undefined, FLOXIDE_TEST_CONCURRENCY: "4" },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^ℹ tests 1000$/m);
    assert.match(run.stdout, /^ℹ pass 1000$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
