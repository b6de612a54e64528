import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { startFloxide } from "../../support/floxide-process.ts";

const SDK = resolve("worker/sdk/index.ts");
const greeter = (greeting: string, version: string): string => `
import { next, node, workflow } from ${JSON.stringify(SDK)};
const greet = node<{ name: string }, string>("greet", (_ctx, input) => next(${JSON.stringify(greeting)} + " " + input.name));
export default workflow({ name: "greeter", version: ${JSON.stringify(version)}, start: "greet", nodes: [greet] });
`;

test("floxide dev runs typed inputs, restarts the workers when the module changes, keeps them when it breaks, and exits 0 on Ctrl-C", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floxide-dev-"));
  const module = join(dir, "greeter.ts");
  writeFileSync(module, greeter("hello", "1"));
  const dev = startFloxide(["dev", "--workflow", module, "--backend", "memory"]);
  const { child, seen } = dev;
  try {
    await seen(/type a JSON input and Enter/, "the dev loop to start");
    assert.match(dev.stdout(), /on memory backend with in-process workers \(--backend memory\)/);
    assert.match(dev.stdout(), /'floxide run' from another terminal cannot reach it/);

    child.stdin.write('{"name":"ada"}\n');
    await seen(/run \S+ completed in \d+ ms: \["hello ada"\]/, "the first run");
    assert.match(dev.stdout(), /scale: 0 -> 1 workers \(Activated/);

    writeFileSync(module, greeter("bonjour", "2"));
    await seen(/greeter\.ts changed: draining \d+ workers, restarting with 'greeter'@2/, "the reload");
    child.stdin.write('{"name":"bob"}\n');
    await seen(/run \S+ completed in \d+ ms: \["bonjour bob"\]/, "a run on the new version");

    writeFileSync(module, 'throw new Error("half-written module");\n');
    await seen(
      /does not load: InvalidWorkflow: .*half-written module\n {2}running workers keep 'greeter'@2/,
      "the failed reload",
    );
    child.stdin.write("not json\n");
    await seen(/not started: input is not valid JSON/, "the bad input");
    child.stdin.write('{"name":"cy"}\n');
    await seen(/run \S+ completed in \d+ ms: \["bonjour cy"\]/, "a run on the kept version");

    child.kill("SIGINT");
    assert.equal(await dev.exited, 0, dev.stderr());
    assert.match(dev.stdout(), /stopping: draining the workers\n$/);
  } finally {
    dev.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("floxide dev on Redis with no workers running: a broken edit holds the fleet and says why once (no crash loop)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "floxide-dev-redis-"));
  const module = join(dir, "greeter.ts");
  writeFileSync(module, greeter("hello", "1"));
  const dev = startFloxide(["dev", "--workflow", module, "--backend", "redis"], {
    env: { ...process.env, FLOXIDE_REDIS_URL: "" },
  });
  const { child, seen } = dev;
  try {
    await seen(/type a JSON input and Enter/, "the dev loop to start");
    assert.match(dev.stdout(), /redis-server .* started on redis:\/\//);
    writeFileSync(module, 'throw new Error("half-written module");\n');
    await seen(/does not load: InvalidWorkflow: .*half-written module/, "the failed reload");
    const before = dev.stdout().length;
    child.stdin.write('{"name":"ada"}\n');
    await seen(/run \S+ started/, "the run to be queued");
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const after = dev.stdout().slice(before);
    assert.doesNotMatch(after, /scale: 0 -> 1/, "no worker starts from the broken file");
    assert.doesNotMatch(after, /exited with/, "no worker crashed");
    assert.equal(dev.stdout().match(/does not load/g)?.length, 1, "the reason is said once");

    // The same version: the queued run is pinned to version 1 and waits for a worker of it.
    writeFileSync(module, greeter("hola", "1"));
    await seen(/restarting with 'greeter'@1/, "the reload once the module loads");
    await seen(/run \S+ completed in \d+ ms: \["hola ada"\]/, "the queued run on the fixed module");
    child.kill("SIGINT");
    assert.equal(await dev.exited, 0, dev.stderr());
  } finally {
    dev.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
