/**
 * The project's own scripts (npm run bench, bench:profile, gen:crd, gen:docs,
 * gen:console-screenshot, the shards case alone) answer --help with their usage and exit 0, and
 * refuse an unknown argument with exit 2 before they run or write anything.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const SCRIPTS: { file: string; usage: RegExp; writes?: string }[] = [
  { file: "bench/main.ts", usage: /^usage: npm run bench/ },
  { file: "bench/profile.ts", usage: /^usage: npm run bench:profile/ },
  { file: "bench/shards.ts", usage: /^usage: node scripts\/run.mjs bench\/shards.ts/ },
  {
    file: "operator/api/generate-crd.ts",
    usage: /^usage: npm run gen:crd/,
    writes: "crds/workflowdeployments.floxide.dev.yaml",
  },
  { file: "scripts/gen-config-docs.ts", usage: /^usage: npm run gen:docs/, writes: "docs/configuration.md" },
  {
    file: "scripts/gen-console-screenshot.ts",
    usage: /^usage: npm run gen:console-screenshot/,
    writes: "docs/console.png",
  },
];

const run = (file: string, arg: string) =>
  spawnSync(process.execPath, ["scripts/run.mjs", file, arg], {
    cwd: root,
    encoding: "utf8",
    timeout: 30_000,
  });

for (const { file, usage, writes } of SCRIPTS) {
  test(`${file} --help prints its usage and exits 0; an unknown argument exits 2 and writes nothing`, () => {
    const help = run(file, "--help");
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, usage);
    const before = writes === undefined ? 0 : statSync(`${root}/${writes}`).mtimeMs;
    const bad = run(file, "--frobnicate");
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /unknown argument --frobnicate/);
    assert.match(bad.stderr, new RegExp(usage.source, "m"));
    if (writes !== undefined)
      assert.equal(statSync(`${root}/${writes}`).mtimeMs, before, `${writes} was written`);
  });
}

test("bench:profile refuses a driver or shape it cannot measure with, saying what to give instead", () => {
  const profile = (...args: string[]) =>
    spawnSync(process.execPath, ["scripts/run.mjs", "bench/profile.ts", ...args], {
      cwd: root,
      encoding: "utf8",
      timeout: 30_000,
    });
  const cases: [args: string[], message: RegExp][] = [
    [["fan10"], /the ceiling loop has no joins: count fan10 with --instructions --pool/],
    [["noop1", "1000", "16", "--pool"], /--pool drives the instruction count: add --instructions/],
    [["chain3", "1000", "16", "--instructions", "--bullmq"], /the BullMQ driver runs noop1 only/],
    [["noop1", "1000", "16", "--instructions", "--pool", "--bullmq"], /--pool and --bullmq are two drivers/],
  ];
  for (const [args, message] of cases) {
    const result = profile(...args);
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});
