/**
 * Security posture of the worker process: Redis with a password and with TLS work end to end,
 * the password never shows in logs, /metrics, /readyz or CLI errors, and the HTTP port serves
 * health and metrics only.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Orchestrator } from "../../../worker/engine/index.ts";
import { loadWorkflowModule } from "../../../worker/load-workflow.ts";
import type { StoreBackend } from "../../../worker/store/index.ts";
import {
  openRedisBackend,
  type RedisBackendSettings as RedisSettings,
} from "../../../worker/store/open-redis.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";
import { killAll, startWorkerProcess, type WorkerProcess } from "../../support/worker-process.ts";
import { makeTlsFiles, type TlsFiles } from "./tls-files.ts";

const STEPS = "test/support/workflows/steps.ts";
const SECRET = "s3cr3t-Pa55w0rd-do-not-leak";
const WRONG = "wr0ng-Pa55w0rd-do-not-leak";

function cli(args: readonly string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["cli/main.ts", ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
}

const everything = (worker: WorkerProcess): string =>
  worker.logs.map((line) => JSON.stringify(line)).join("\n") + worker.stderr();

describe("security", () => {
  const workers: WorkerProcess[] = [];
  const backends: StoreBackend[] = [];
  let redis: RedisServer;
  let prefixes = 0;

  before(async () => {
    redis = await startRedis();
    // Set after start: the helper's readiness PING does not authenticate.
    const admin = new Redis(redis.url);
    await admin.config("SET", "requirepass", SECRET);
    admin.disconnect();
  });
  after(async () => {
    await killAll(workers);
    await Promise.all(backends.map((b) => b.close()));
    await redis.stop();
  });

  async function runOneWorkflow(
    settings: Omit<RedisSettings, "keyPrefix" | "redisMode" | "retentionSeconds">,
  ) {
    const keyPrefix = `sec${(prefixes += 1)}`;
    const backend = await openRedisBackend(
      { ...settings, keyPrefix, redisMode: "standalone", retentionSeconds: 600 },
      pino({ level: "silent" }),
    );
    backends.push(backend);
    const def = await loadWorkflowModule(STEPS);
    const store = backend.forWorkflow(def.name);
    const { runId } = await new Orchestrator(store, def).start({ count: 3, stepMs: 1 });
    return { store, runId, keyPrefix };
  }

  test("Redis with a password works end to end, and the password shows nowhere", async () => {
    const { store, runId, keyPrefix } = await runOneWorkflow({ redisUrl: redis.url, redisPassword: SECRET });
    const worker = await startWorkerProcess({
      workflow: STEPS,
      redisUrl: redis.url,
      args: ["--key-prefix", keyPrefix, "--log-level", "debug"],
      env: { FLOXIDE_REDIS_PASSWORD: SECRET },
    });
    workers.push(worker);
    const viaUrl = await startWorkerProcess({
      workflow: STEPS,
      redisUrl: `redis://:${SECRET}@127.0.0.1:${redis.port}`,
      args: ["--key-prefix", keyPrefix, "--log-level", "debug"],
    });
    workers.push(viaUrl);
    await waitFor(async () => (await store.getRun(runId))?.status === "completed", {
      timeoutMs: 30_000,
      message: "the run to complete on a password-protected Redis",
    });
    for (const w of [worker, viaUrl]) {
      const readyz = await fetch(`http://127.0.0.1:${w.port}/readyz`);
      assert.equal(readyz.status, 200);
      const bodies = [await readyz.text(), await (await fetch(`http://127.0.0.1:${w.port}/metrics`)).text()];
      assert.ok(!bodies.join("\n").includes(SECRET), "no password in /readyz or /metrics");
      assert.ok(!everything(w).includes(SECRET), "no password in the worker's logs");
    }
    // The URL with its password is described redacted in the connection log line.
    assert.ok(viaUrl.logs.some((l) => l.msg === "connecting to Redis" && String(l.redis).includes(":***@")));
  });

  test("a wrong password: the worker stays alive but not ready, and neither password shows", async () => {
    const worker = await startWorkerProcess({
      workflow: STEPS,
      redisUrl: `redis://:${WRONG}@127.0.0.1:${redis.port}`,
      args: ["--key-prefix", "sec-wrong", "--block-ms", "200"],
    });
    workers.push(worker);
    const readyz = await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${worker.port}/readyz`);
        return response.status === 503 ? response.text() : false;
      },
      { timeoutMs: 15_000, message: "/readyz to report the auth failure" },
    );
    assert.match(readyz, /WRONGPASS|NOAUTH|auth/i);
    await waitFor(() => worker.logs.some((l) => l.msg === "worker loop error"), {
      timeoutMs: 15_000,
      message: "the claim loop to log the auth failure",
    });
    const metrics = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
    for (const text of [readyz, metrics, everything(worker)]) {
      assert.ok(!text.includes(WRONG), "the wrong password is not echoed");
      assert.ok(!text.includes(SECRET));
    }
    assert.equal(worker.child.exitCode, null, "alive: a fixed Secret needs no restart loop");
  });

  test("CLI errors never show the password", () => {
    const unreachable = cli([
      "run",
      "status",
      "r-1",
      "--workflow",
      "steps",
      "--redis",
      `redis://:${SECRET}@127.0.0.1:1`,
    ]);
    assert.equal(unreachable.status, 1);
    assert.match(
      unreachable.stderr,
      /StoreUnavailable: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/,
    );
    const wrong = cli([
      "run",
      "status",
      "r-1",
      "--workflow",
      "steps",
      "--redis",
      `redis://:${WRONG}@127.0.0.1:${redis.port}`,
    ]);
    assert.notEqual(wrong.status, 0);
    const badConfig = cli(["worker", "--workflow", STEPS, "--concurrency", "0"], {
      FLOXIDE_REDIS_URL: `redis://:${SECRET}@127.0.0.1:${redis.port}`,
      FLOXIDE_REDIS_PASSWORD: SECRET,
    });
    assert.equal(badConfig.status, 2);
    for (const result of [unreachable, wrong, badConfig]) {
      const text = result.stdout + result.stderr;
      assert.ok(!text.includes(SECRET) && !text.includes(WRONG), `no password in: ${text}`);
    }
  });

  test("the HTTP port serves /healthz, /readyz and /metrics (GET, HEAD) and nothing else", async () => {
    const { keyPrefix } = await runOneWorkflow({ redisUrl: redis.url, redisPassword: SECRET });
    const worker = await startWorkerProcess({
      workflow: STEPS,
      redisUrl: redis.url,
      args: ["--key-prefix", keyPrefix],
      env: { FLOXIDE_REDIS_PASSWORD: SECRET },
    });
    workers.push(worker);
    const base = `http://127.0.0.1:${worker.port}`;
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      for (const method of ["GET", "HEAD"]) {
        assert.equal((await fetch(base + path, { method })).status, 200, `${method} ${path}`);
      }
      for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
        const response = await fetch(base + path, { method, body: method === "DELETE" ? null : "{}" });
        assert.ok([404, 405].includes(response.status), `${method} ${path} is refused (${response.status})`);
      }
    }
    const probes = [
      "/",
      "/admin",
      "/debug",
      "/debug/pprof",
      "/env",
      "/.env",
      "/config",
      "/api/runs",
      "/runs",
      "/queue",
      "/workers",
      "/metrics/../config",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/healthz/../.env",
      "/docs",
      "/documentation/json",
      "/swagger.json",
      "/openapi.json",
    ];
    for (const path of probes) {
      for (const method of ["GET", "POST"]) {
        const response = await fetch(base + path, { method });
        const body = await response.text();
        // fetch normalises "/healthz/../x" to "/x"; any path that is not one of the three is 404.
        assert.equal(response.status, 404, `${method} ${path}: ${body}`);
        assert.ok(!body.includes(SECRET) && !body.includes("FLOXIDE_"), `${method} ${path} leaks nothing`);
      }
    }
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.ok(!metrics.includes(SECRET) && !/redis:\/\//.test(metrics), "no connection string in /metrics");
    assert.ok(!everything(worker).includes(SECRET));
  });

  test("Redis with TLS (a CA made here) works end to end; a client that does not trust the CA is refused", async (t) => {
    const tls: TlsFiles = makeTlsFiles();
    t.after(() => tls.remove());
    const tlsRedis = await startRedis({
      tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile },
    });
    t.after(() => tlsRedis.stop());
    assert.ok(tlsRedis.tlsUrl);
    const backend = await openRedisBackend(
      {
        redisUrl: tlsRedis.tlsUrl,
        redisTlsCaFile: tls.caFile,
        keyPrefix: "tls",
        redisMode: "standalone",
        retentionSeconds: 600,
      },
      pino({ level: "silent" }),
    );
    backends.push(backend);
    const def = await loadWorkflowModule(STEPS);
    const store = backend.forWorkflow(def.name);
    const { runId } = await new Orchestrator(store, def).start({ count: 3, stepMs: 1 });
    const worker = await startWorkerProcess({
      workflow: STEPS,
      redisUrl: tlsRedis.tlsUrl,
      args: ["--key-prefix", "tls"],
      env: { FLOXIDE_REDIS_TLS_CA_FILE: tls.caFile },
    });
    workers.push(worker);
    await waitFor(async () => (await store.getRun(runId))?.status === "completed", {
      timeoutMs: 30_000,
      message: "the run to complete over TLS",
    });
    // The connection really is TLS: the server counts the worker among its TLS clients.
    const admin = new Redis(tlsRedis.url);
    const clients = String(await admin.call("CLIENT", "LIST"));
    admin.disconnect();
    assert.match(
      clients,
      new RegExp(`laddr=127\\.0\\.0\\.1:${new URL(tlsRedis.tlsUrl).port}.*name=${worker.name}`),
    );
    assert.equal((await fetch(`http://127.0.0.1:${worker.port}/readyz`)).status, 200);

    const untrusting = await startWorkerProcess({
      workflow: STEPS,
      redisUrl: tlsRedis.tlsUrl,
      args: ["--key-prefix", "tls-untrusted"],
      env: { FLOXIDE_REDIS_TLS_CA_FILE: tls.otherCaFile },
    });
    workers.push(untrusting);
    const reason = await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${untrusting.port}/readyz`);
        return response.status === 503 ? response.text() : false;
      },
      { timeoutMs: 15_000, message: "/readyz of a worker that does not trust the CA to turn 503" },
    );
    assert.match(reason, /certificate|self.signed|verify/i);
  });
});
