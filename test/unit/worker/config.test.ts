import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseTableFlags } from "../../../cli/options.ts";
import {
  InvalidConfigError,
  loadWorkerConfig,
  optionsReference,
  WORKER_OPTIONS,
  type OptionSpec,
} from "../../../contract/index.ts";

const base = { FLOXIDE_WORKFLOW: "dist/flow.js", FLOXIDE_REDIS_URL: "redis://localhost:6379" };

describe("worker configuration", () => {
  test("defaults apply, environment overrides them, flags override the environment", () => {
    const defaults = loadWorkerConfig({}, base);
    assert.equal(defaults.concurrency, 4);
    assert.equal(defaults.port, 8080);
    assert.equal(defaults.drainTimeoutSeconds, 30);
    assert.equal(defaults.keyPrefix, "floxide");
    assert.equal(defaults.workerId, undefined);
    const fromEnv = loadWorkerConfig({}, { ...base, FLOXIDE_CONCURRENCY: "8", POD_NAME: "wf-abc" });
    assert.equal(fromEnv.concurrency, 8);
    assert.equal(fromEnv.workerId, "wf-abc");
    const fromFlags = loadWorkerConfig(
      parseTableFlags(WORKER_OPTIONS, ["--concurrency", "16", "--drain-timeout=5"]),
      {
        ...base,
        FLOXIDE_CONCURRENCY: "8",
      },
    );
    assert.equal(fromFlags.concurrency, 16);
    assert.equal(fromFlags.drainTimeoutSeconds, 5);
  });

  test("every problem is reported at once, naming the variable or flag", () => {
    try {
      loadWorkerConfig({ port: "99999" }, { FLOXIDE_CONCURRENCY: "lots", FLOXIDE_LOG_LEVEL: "loud" });
      assert.fail("expected InvalidConfig");
    } catch (error) {
      assert.ok(error instanceof InvalidConfigError);
      assert.equal(error.code, "InvalidConfig");
      assert.match(error.message, /FLOXIDE_WORKFLOW \(or --workflow\) is required/);
      assert.match(error.message, /FLOXIDE_REDIS_URL \(or --redis\) is required/);
      assert.match(error.message, /FLOXIDE_CONCURRENCY must be an integer from 1 to 1000, got 'lots'/);
      assert.match(error.message, /--port must be an integer from 0 to 65535, got '99999'/);
      assert.match(
        error.message,
        /FLOXIDE_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got 'loud'/,
      );
    }
  });

  test("a secret value is never echoed in an error", () => {
    assert.throws(
      () => loadWorkerConfig({ redisMode: "weird" }, { ...base, FLOXIDE_REDIS_URL: "redis://:hunter2@x:1" }),
      (error: Error) =>
        !error.message.includes("hunter2") && /FLOXIDE_REDIS_MODE|--redis-mode/.test(error.message),
    );
  });

  test("unknown flags and flags without values are refused by the command line", () => {
    assert.throws(
      () => parseTableFlags(WORKER_OPTIONS, ["--concurency", "3"]),
      /unknown option '--concurency'/,
    );
    assert.throws(() => parseTableFlags(WORKER_OPTIONS, ["--concurrency"]), /argument missing/);
  });

  test("the reference table documents every option with its variable and default", () => {
    const reference = optionsReference(WORKER_OPTIONS);
    for (const spec of Object.values(WORKER_OPTIONS) as OptionSpec[]) {
      assert.ok(reference.includes(`\`--${spec.flag}\``), spec.flag);
      assert.ok(reference.includes(`\`${spec.env}\``), spec.env);
    }
    assert.match(reference, /\| `--concurrency` \| `FLOXIDE_CONCURRENCY` \| `4` \|/);
  });
});
