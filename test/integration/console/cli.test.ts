/**
 * `floxide ui` and `floxide queue redrive` as processes: the console refuses to listen beyond
 * loopback without a token (before touching Redis), serves on loopback and stops on SIGTERM;
 * its help names every variable; redrive puts a dead letter back, in Redis.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { pino } from "pino";
import type { StoreBackend } from "../../../worker/store/index.ts";
import { openRedisBackend } from "../../../worker/store/open-redis.ts";
import { deadLetterRun } from "../../support/dead-letter.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";

let redis: RedisServer;
let backend: StoreBackend;
const PREFIX = `cli${process.pid}`;

function floxide(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ["cli/main.ts", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out.stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (out.stderr += chunk));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return { child, out, exited };
}

before(async () => {
  redis = await startRedis();
  backend = await openRedisBackend(
    { redisUrl: redis.url, keyPrefix: PREFIX, redisMode: "standalone", retentionSeconds: 3600 },
    pino({ level: "silent" }),
  );
});

after(async () => {
  await backend?.close();
  await redis?.stop();
});

test("floxide ui refuses to listen beyond loopback without a token, before connecting to Redis", async () => {
  // An unreachable Redis: a refusal after connecting would exit 1, not 2.
  const run = floxide(["ui", "--redis", "redis://127.0.0.1:1", "--host", "0.0.0.0", "--port", "0"]);
  assert.equal(await run.exited, 2);
  assert.match(run.out.stderr, /refusing to listen on 0\.0\.0\.0 without an auth token/);
  assert.match(run.out.stderr, /--auth-token \(FLOXIDE_UI_AUTH_TOKEN\)/);
  const viaEnv = floxide(["ui", "--redis", "redis://127.0.0.1:1", "--port", "0"], { FLOXIDE_UI_HOST: "::" });
  assert.equal(await viaEnv.exited, 2);
  assert.match(viaEnv.out.stderr, /refusing to listen on ::/);
});

test("floxide ui serves on loopback, answers with its page, and exits 0 on SIGTERM", async () => {
  const run = floxide(["ui", "--redis", redis.url, "--key-prefix", PREFIX, "--port", "0", "--read-only"]);
  const url = await waitFor(
    () => /floxide console on (http:\/\/127\.0\.0\.1:\d+\/) \(read-only\)/.exec(run.out.stdout)?.[1],
    {
      message: `the console's address (stderr: ${run.out.stderr})`,
    },
  );
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self' 'sha256-/);
  assert.deepEqual(await (await fetch(`${url}api/config`)).json(), {
    readOnly: true,
    auth: false,
    workflows: null,
    graphs: [],
  });
  run.child.kill("SIGTERM");
  assert.equal(await run.exited, 0);
});

test("floxide ui --help lists every option with its variable", async () => {
  const run = floxide(["ui", "--help"]);
  assert.equal(await run.exited, 0);
  for (const variable of [
    "FLOXIDE_UI_PORT",
    "FLOXIDE_UI_HOST",
    "FLOXIDE_UI_AUTH_TOKEN",
    "FLOXIDE_UI_WORKFLOW",
    "FLOXIDE_UI_READ_ONLY",
    "FLOXIDE_UI_KUBE",
    "FLOXIDE_UI_KUBE_NAMESPACE",
    "FLOXIDE_REDIS_URL",
  ])
    assert.match(run.out.stdout, new RegExp(variable), variable);
});

test("floxide queue redrive puts a dead letter back at attempt 1; --discard drops one", async () => {
  const store = backend.forWorkflow("cli-redrive");
  const dead: string[] = [];
  for (let i = 0; i < 2; i += 1) dead.push((await deadLetterRun(store, { n: i })).itemId);
  const redrive = floxide([
    "queue",
    "redrive",
    "cli-redrive",
    dead[0] as string,
    "--redis",
    redis.url,
    "--key-prefix",
    PREFIX,
    "--json",
  ]);
  assert.equal(await redrive.exited, 0, redrive.out.stderr);
  assert.equal((JSON.parse(redrive.out.stdout) as { runStatus: string }).runStatus, "running");
  const discard = floxide([
    "queue",
    "redrive",
    "cli-redrive",
    dead[1] as string,
    "--discard",
    "--redis",
    redis.url,
    "--key-prefix",
    PREFIX,
  ]);
  assert.equal(await discard.exited, 0, discard.out.stderr);
  assert.deepEqual(await store.deadLetters(), []);
  const claim = await store.claim({ workerId: "w", leaseMs: 10_000, blockMs: 0 });
  assert.equal(claim?.item.id, dead[0]);
  assert.equal(claim?.item.attempt, 1);
  const again = floxide([
    "queue",
    "redrive",
    "cli-redrive",
    dead[1] as string,
    "--redis",
    redis.url,
    "--key-prefix",
    PREFIX,
  ]);
  assert.equal(await again.exited, 1);
  assert.match(again.out.stderr, /DeadLetterNotFound/);
});
