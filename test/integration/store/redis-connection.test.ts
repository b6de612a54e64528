/**
 * Redis connection options: URL parsing and validation (pure), and real connections with an
 * ACL user, TLS with a private CA and SNI name, and Sentinel.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import {
  createRedisBackend,
  createRedisClient,
  describeRedisConnection,
  parseRedisUrl,
  redactRedisUrl,
  resolveRedisConnection,
  type RedisConnectionOptions,
} from "../../../worker/store/index.ts";
import { item } from "../../store/contract-suite.ts";
import { startRedis, startRedisSentinel } from "../../support/redis.ts";

describe("redis connection options", () => {
  test("a URL gives host, port, database, credentials and TLS settings", () => {
    assert.deepEqual(
      parseRedisUrl("rediss://alice:p%40ss@cache.internal:6380/2?ca=/etc/ca.pem&servername=cache"),
      {
        host: "cache.internal",
        port: 6380,
        db: 2,
        username: "alice",
        password: "p@ss",
        tls: { ca: "/etc/ca.pem", servername: "cache" },
      },
    );
    assert.deepEqual(parseRedisUrl("redis://[::1]"), { host: "::1" });
    const cluster = resolveRedisConnection("redis://a:7000?cluster=true&nodes=a:7000,b:7001");
    assert.equal(cluster.mode, "cluster");
    assert.deepEqual(cluster.mode === "cluster" ? cluster.nodes : [], [
      { host: "a", port: 7000 },
      { host: "b", port: 7001 },
    ]);
    const sentinel = resolveRedisConnection({
      url: "redis://x?sentinels=s1:26379,s2:26379&name=main",
      db: 3,
    });
    assert.equal(sentinel.mode, "sentinel");
    assert.equal(sentinel.mode === "sentinel" ? `${sentinel.name}/${sentinel.db}` : "", "main/3");
  });

  test("explicit fields override the URL and merge TLS details", () => {
    const resolved = resolveRedisConnection({
      url: "rediss://u:old@h:1/0?servername=from-url",
      password: "new",
      tls: { ca: "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n" },
    });
    assert.equal(resolved.password, "new");
    assert.equal(resolved.tls?.servername, "from-url");
    assert.match(String(resolved.tls?.ca), /BEGIN CERTIFICATE/);
  });

  const invalid: [string, RedisConnectionOptions | string, RegExp][] = [
    ["a scheme other than redis", "http://localhost:6379", /unsupported scheme 'http:'/],
    ["text that is no URL", "localhost:6379:x", /is not a URL|unsupported scheme/],
    ["a port out of range", "redis://h:70000", /not a URL|is not a port/],
    ["an explicit bad port", { port: 0 }, /port '0' is not a port/],
    ["a database that is no number", "redis://h/abc", /database '\/abc'/],
    ["an unknown URL parameter", "redis://h?clustr=true", /unknown URL parameter 'clustr'/],
    ["a CA without TLS", "redis://h?ca=/x.pem", /need a rediss:\/\/ URL/],
    [
      "a CA file that does not exist",
      { tls: { ca: "/no/such/ca.pem" } },
      /neither PEM text nor a readable PEM file/,
    ],
    [
      "cluster with sentinels",
      { cluster: true, sentinels: [{ host: "s", port: 1 }], name: "m" },
      /cannot be combined/,
    ],
    ["sentinels without a master name", { sentinels: [{ host: "s", port: 26379 }] }, /master group name/],
    ["a master name without sentinels", { name: "mymaster" }, /without sentinels/],
    ["a database on a cluster", { cluster: true, db: 1 }, /only database 0/],
    ["seed nodes without cluster", { nodes: [{ host: "a", port: 1 }] }, /without cluster: true/],
    ["a malformed node list", "redis://h?cluster=true&nodes=a:1,b", /'b' is not host:port/],
    ["an empty password", { password: "" }, /password is empty/],
  ];
  for (const [what, input, message] of invalid) {
    test(`rejects ${what} with InvalidConfig`, () => {
      assert.throws(
        () => resolveRedisConnection(input),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, "InvalidConfig");
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  test("descriptions and errors never show the password", () => {
    const url = "rediss://alice:s3cr%2Ft@h:6380/1";
    assert.equal(describeRedisConnection(url), "rediss://alice:***@h:6380/1");
    assert.equal(describeRedisConnection({ host: "h", password: "s3cr/t" }), "redis://:***@h:6379/0");
    assert.equal(
      describeRedisConnection({ sentinels: [{ host: "s", port: 26379 }], name: "m", password: "s3cr/t" }),
      "redis://:***@sentinel(m@s:26379)/0",
    );
    assert.equal(redactRedisUrl("redis://u:s3cr/t@h:1"), "redis://u:***@h:1");
    assert.throws(
      () => parseRedisUrl("redis://u:s3cr/t@h:99999"),
      (error: Error) => !error.message.includes("s3cr"),
    );
  });
});

describe("redis connections to real servers", () => {
  test("an ACL user with a password connects; a wrong password fails without echoing it", async () => {
    const redis = await startRedis({ args: ["--user", "alice", "on", ">wonderland", "~*", "&*", "+@all"] });
    const good = createRedisBackend({ connection: `redis://alice:wonderland@${redis.host}:${redis.port}` });
    const bad = createRedisBackend({ connection: `redis://alice:guess@${redis.host}:${redis.port}` });
    try {
      await good.ping();
      await roundTrip(good);
      await assert.rejects(bad.ping(), (error: Error & { code?: string }) => {
        assert.equal(error.code, "StoreUnavailable");
        assert.match(error.message, /WRONGPASS|NOAUTH|invalid/i);
        assert.ok(!error.message.includes("guess"), error.message);
        return true;
      });
    } finally {
      await good.close();
      await bad.close();
      await redis.stop();
    }
  });

  test("TLS verifies the server against a private CA and the given servername", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "floxide-tls-"));
    try {
      if (!makeCertificates(dir)) {
        t.skip("openssl is not installed");
        return;
      }
      const redis = await startRedis({
        tls: {
          certFile: join(dir, "server.crt"),
          keyFile: join(dir, "server.key"),
          caFile: join(dir, "ca.crt"),
        },
      });
      const tlsUrl = redis.tlsUrl as string;
      const trusted = createRedisBackend({
        connection: `${tlsUrl}?ca=${join(dir, "ca.crt")}&servername=redis.test`,
      });
      const wrongName = createRedisClient(
        { url: `${tlsUrl}?ca=${join(dir, "ca.crt")}`, connectTimeoutMs: 2000 },
        { maxRetriesPerRequest: 0, retryStrategy: () => null },
      );
      wrongName.on("error", () => undefined);
      const unknownCa = createRedisClient(
        { url: tlsUrl, tls: { servername: "redis.test" } },
        { maxRetriesPerRequest: 0, retryStrategy: () => null },
      );
      unknownCa.on("error", () => undefined);
      try {
        await trusted.ping();
        await roundTrip(trusted);
        await assert.rejects(wrongName.ping(), "a certificate for redis.test is not one for 127.0.0.1");
        await assert.rejects(unknownCa.ping(), "a certificate of an unknown CA is refused");
      } finally {
        wrongName.disconnect();
        unknownCa.disconnect();
        await trusted.close();
        await redis.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("Sentinel: the backend finds the master through a sentinel", async () => {
    const master = await startRedis();
    const sentinel = await startRedisSentinel(master, "floxide-master");
    const backend = createRedisBackend({
      connection: `redis://${sentinel.host}?sentinels=${sentinel.host}:${sentinel.port}&name=floxide-master`,
    });
    try {
      assert.match(backend.description, /^redis:\/\/sentinel\(floxide-master@127\.0\.0\.1:\d+\)\/0$/);
      await roundTrip(backend);
    } finally {
      await backend.close();
      await sentinel.stop();
      await master.stop();
    }
  });
});

/** A run created and its item claimed through the backend: scripts run over this connection. */
async function roundTrip(backend: ReturnType<typeof createRedisBackend>): Promise<void> {
  const store = backend.forWorkflow(`conn-${randomUUID().slice(0, 8)}`);
  const runId = randomUUID();
  await store.createRun({
    runId,
    idempotencyKey: null,
    input: 1,
    version: "1",
    startItem: item(store, runId, "a"),
  });
  const claim = await store.claim({ workerId: "w", leaseMs: 5000, blockMs: 1000 });
  assert.equal(claim?.item.runId, runId);
}

/** A private CA and a server certificate for the name `redis.test` (not for 127.0.0.1). */
function makeCertificates(dir: string): boolean {
  const openssl = (...args: string[]): void => {
    const result = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (result.error !== undefined) throw result.error;
    if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
  };
  if (spawnSync("openssl", ["version"], { stdio: "ignore" }).error !== undefined) return false;
  const subject = (cn: string): string[] => ["-subj", `/CN=${cn}`];
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    ...subject("floxide-test-ca"),
  );
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    ...subject("redis.test"),
  );
  writeFileSync(join(dir, "san.ext"), "subjectAltName=DNS:redis.test\n");
  openssl(
    ...["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"],
    ...["-out", "server.crt", "-days", "1", "-extfile", "san.ext"],
  );
  return true;
}
