// The package as a user gets it: `npm pack`, installed with npm outside the repository, its
// `floxide` command and its SDK used from workflow modules of every format, and the worker
// image's folder layout (docs/install.md) running a TypeScript module on a real Redis.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  imageLayout,
  installInto,
  nodeBelowFloor,
  nodeCandidates,
  nodeFloor,
  packageEnv,
  packPackage,
  type PackedPackage,
} from "../support/package.ts";
import { startRedis, type RedisServer } from "../support/redis.ts";
import { startFloxide } from "../support/floxide-process.ts";
import { startWorkerProcess } from "../support/worker-process.ts";

let packed: PackedPackage;
let project: string;
let floxide: string;

before(async () => {
  packed = await packPackage();
  project = join(packed.scratch, "project");
  await installInto(project, packed.tarball);
  floxide = join(project, "node_modules", ".bin", "floxide");
});

after(() => packed?.remove());

const cli = (args: readonly string[], cwd: string) =>
  spawnSync(floxide, args, { cwd, encoding: "utf8", env: packageEnv(), timeout: 60_000 });

/** A one-node workflow module in each syntax a user may write it in. */
const ESM_TS = `import { next, node, workflow, type WorkflowDef } from "floxide-k8s/worker/sdk";
const greet = node<{ name: string }, string>("greet", (_ctx, input) => next("hello " + input.name));
const def: WorkflowDef<{ name: string }, string> = workflow({ name: "greeter", version: "1", start: "greet", nodes: [greet] });
export default def;
`;
const ESM_JS = `import { next, node, workflow } from "floxide-k8s/worker/sdk";
const greet = node("greet", (_ctx, input) => next("hello " + input.name));
export default workflow({ name: "greeter", version: "1", start: "greet", nodes: [greet] });
`;
const CJS_JS = `const { next, node, workflow } = require("floxide-k8s/worker/sdk");
const greet = node("greet", (_ctx, input) => next("hello " + input.name));
module.exports = workflow({ name: "greeter", version: "1", start: "greet", nodes: [greet] });
`;

const FORMATS: { name: string; file: string; source: string; packageType?: "module" | "commonjs" }[] = [
  { name: ".ts (ESM syntax), no package.json", file: "greeter.ts", source: ESM_TS },
  { name: ".ts, package.json type module", file: "greeter.ts", source: ESM_TS, packageType: "module" },
  { name: ".mts", file: "greeter.mts", source: ESM_TS },
  { name: ".js ESM, no package.json", file: "greeter.js", source: ESM_JS },
  { name: ".js ESM, package.json type module", file: "greeter.js", source: ESM_JS, packageType: "module" },
  { name: ".mjs", file: "greeter.mjs", source: ESM_JS },
  { name: ".js CommonJS, no package.json", file: "greeter.js", source: CJS_JS },
  {
    name: ".js CommonJS, package.json type commonjs",
    file: "greeter.js",
    source: CJS_JS,
    packageType: "commonjs",
  },
  { name: ".cjs", file: "greeter.cjs", source: CJS_JS },
];

test("the installed package answers floxide --help and exports only compiled JavaScript", () => {
  const help = cli(["--help"], project);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /usage: floxide <command>/i);
  const resolved = spawnSync(
    process.execPath,
    ["--input-type=module", "-e", 'console.log(import.meta.resolve("floxide-k8s/worker/sdk"))'],
    { cwd: project, encoding: "utf8", env: packageEnv() },
  );
  assert.equal(resolved.status, 0, resolved.stderr);
  assert.match(resolved.stdout.trim(), /\/node_modules\/floxide-k8s\/dist\/worker\/sdk\/index\.js$/);
});

const older = nodeBelowFloor();
const floor = nodeFloor().range;

test(
  `on a Node below the floor (${floor}) the compiled bin answers --help with usage and refuses a command naming the floor`,
  {
    skip:
      older === null &&
      `no Node below ${floor} on this machine (looked at ${nodeCandidates().join(", ") || "nothing"})`,
  },
  () => {
    const node = older?.path as string;
    const bin = join(project, "node_modules", "floxide-k8s", "dist", "cli", "bin.js");
    const floxideOn = (...args: string[]) =>
      spawnSync(node, [bin, ...args], { cwd: project, encoding: "utf8", env: packageEnv(), timeout: 60_000 });
    const warning = new RegExp(
      `Node\\.js ${floor.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is required, this is ${older?.version}`,
    );

    for (const args of [["--help"], ["run", "--help"], ["help", "queue"], ["completion", "bash"]]) {
      const answer = floxideOn(...args);
      assert.equal(answer.status, 0, `floxide ${args.join(" ")} on ${older?.version}: ${answer.stderr}`);
      assert.match(answer.stdout, args[0] === "completion" ? /_floxide_complete/ : /^Usage: floxide/m);
      assert.match(answer.stderr, warning);
    }

    const refused = floxideOn("graph", "workflow.ts");
    assert.equal(refused.status, 1, refused.stdout);
    assert.match(refused.stderr, warning);
    assert.match(refused.stderr, /install a current Node\.js/);
    assert.equal(refused.stdout, "");
  },
);

for (const format of FORMATS) {
  test(`a workflow module loads through the installed floxide: ${format.name}`, () => {
    const dir = join(project, "workflows", format.name.replace(/[^a-z]+/gi, "-"));
    mkdirSync(dir, { recursive: true });
    if (format.packageType !== undefined) {
      writeFileSync(join(dir, "package.json"), JSON.stringify({ type: format.packageType }));
    }
    writeFileSync(join(dir, format.file), format.source);
    const graph = cli(["graph", join(dir, format.file)], project);
    assert.equal(graph.status, 0, `${graph.stdout}\n${graph.stderr}`);
    assert.match(graph.stdout, /greet/);
  });
}

test("a module that cannot load says which format was tried and how to fix it", () => {
  const dir = join(project, "workflows", "broken");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "enum.ts"), `enum Color { Red }\nexport default Color;\n`);
  const tsSyntax = cli(["graph", join(dir, "enum.ts")], project);
  assert.equal(tsSyntax.status, 1);
  assert.match(tsSyntax.stderr, /as TypeScript with its types stripped/);
  assert.match(tsSyntax.stderr, /erasable syntax|compile it to JavaScript/);

  writeFileSync(join(dir, "no-ext.ts"), `import { x } from "./helper";\nexport default x;\n`);
  writeFileSync(join(dir, "helper.ts"), `export const x = 1;\n`);
  const noExtension = cli(["graph", join(dir, "no-ext.ts")], project);
  assert.equal(noExtension.status, 1);
  assert.match(noExtension.stderr, /import local files with their file extension/);

  const commonjs = join(project, "workflows", "commonjs");
  mkdirSync(commonjs, { recursive: true });
  writeFileSync(join(commonjs, "package.json"), JSON.stringify({ type: "commonjs" }));
  writeFileSync(join(commonjs, "greeter.ts"), ESM_TS);
  const esmInCommonJs = cli(["graph", join(commonjs, "greeter.ts")], project);
  assert.equal(esmInCommonJs.status, 1);
  assert.match(esmInCommonJs.stderr, /"type": "module"/);
});

test("floxide dev runs a project's module on the memory backend through the installed package", async () => {
  const module = join(project, "workflows", "dev-greeter.ts");
  writeFileSync(module, ESM_TS);
  const dev = startFloxide(["dev", "--workflow", module, "--backend", "memory"], {
    bin: floxide,
    cwd: project,
    env: packageEnv(),
  });
  try {
    await dev.seen(/type a JSON input and Enter/, "the dev loop to start");
    dev.child.stdin.write('{"name":"ada"}\n');
    await dev.seen(/run \S+ completed in \d+ ms: \["hello ada"\]/, "the run to complete");
    dev.child.kill("SIGINT");
    assert.equal(await dev.exited, 0, dev.stderr());
  } finally {
    dev.kill();
  }
});

test("the installed floxide ui serves its page and the Preact and htm modules from dist/ (they are not installed)", async (t) => {
  const redis: RedisServer = await startRedis();
  t.after(() => redis.stop());
  assert.equal(existsSync(join(project, "node_modules", "preact")), false, "Preact is a dev dependency");
  const ui = startFloxide(["ui", "--redis", redis.url, "--port", "0"], {
    bin: floxide,
    cwd: project,
    env: packageEnv(),
  });
  try {
    await ui.seen(/floxide console on (\S+)/, "the console to start");
    const url = /floxide console on (\S+)/.exec(ui.stdout())?.[1] ?? "";
    const page = await (await fetch(url)).text();
    const imports = (
      JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? "{}") as {
        imports: Record<string, string>;
      }
    ).imports;
    assert.deepEqual(Object.keys(imports).sort(), ["htm", "preact", "preact/hooks"]);
    for (const path of [...Object.values(imports), "/assets/app.js"]) {
      const asset = await fetch(new URL(path, url));
      assert.equal(asset.status, 200, path);
      assert.match(asset.headers.get("content-type") ?? "", /javascript/);
    }
    ui.child.kill("SIGTERM");
    assert.equal(await ui.exited, 0, ui.stderr());
  } finally {
    ui.kill();
  }
});

test("docs/install.md's image layout: floxide worker runs a .ts module from /app with no package.json", async (t) => {
  const root = join(packed.scratch, "image");
  const { opt, app } = await imageLayout(root, packed.tarball);
  mkdirSync(join(app, "workflows"), { recursive: true });
  writeFileSync(join(app, "workflows", "orders.ts"), ESM_TS.replaceAll("greeter", "orders"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const redis: RedisServer = await startRedis();
  t.after(() => redis.stop());
  const entry = join(opt, "dist", "cli", "bin.js");
  const worker = await startWorkerProcess({
    workflow: "workflows/orders.ts",
    redisUrl: redis.url,
    entry,
    cwd: app,
    env: { FLOXIDE_KEY_PREFIX: "image-layout" },
  });
  try {
    const started = spawnSync(
      process.execPath,
      [entry, "run", "start", "workflows/orders.ts", "--input", '{"name":"ada"}', "--wait", "--json"],
      {
        cwd: app,
        encoding: "utf8",
        timeout: 60_000,
        env: { ...packageEnv(), FLOXIDE_REDIS_URL: redis.url, FLOXIDE_KEY_PREFIX: "image-layout" },
      },
    );
    assert.equal(started.status, 0, `${started.stdout}\n${started.stderr}`);
    assert.match(started.stdout, /hello ada/);
  } finally {
    worker.signal("SIGTERM");
    assert.equal(await worker.exited, 0, worker.stderr());
  }
});
