/**
 * The worker's contract has one home (contract/): for every worker option, the operator's
 * Deployment, the CLI, the local demo and docs/configuration.md use that definition. Renaming
 * an option key breaks the compile; renaming a flag or variable in the table moves every place
 * with it, and a place that typed its own name fails here.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import type { Command } from "commander";
import { LOCAL_WORKER_OPTIONS_LEFT_TO_DEFAULTS, workerProcessArgs } from "../../../cli/local/index.ts";
import { parseTableFlags } from "../../../cli/options.ts";
import { buildProgram } from "../../../cli/program.ts";
import {
  loadWorkerConfig,
  optionsReference,
  REDIS_OPTIONS,
  WORKER_OPTIONS,
  type OptionSpec,
  type WorkerOption,
} from "../../../contract/index.ts";
import { buildDeployment, WORKER_OPTIONS_LEFT_TO_DEFAULTS } from "../../../operator/build/deployment.ts";
import { CONFIG_DOC } from "../../../scripts/gen-config-docs.ts";
import { workflowDeployment } from "../operator/fixtures.ts";

const options = Object.entries(WORKER_OPTIONS) as [WorkerOption, OptionSpec][];

const program = buildProgram({ out: () => undefined, err: () => undefined, env: {} }, () => undefined);
const command = (...path: string[]): Command =>
  path.reduce((parent, name) => {
    const child = parent.commands.find((c) => c.name() === name);
    assert.ok(child, `command ${path.join(" ")}`);
    return child;
  }, program);

// Every spec field set, so every option the operator can set is set.
const fullSpec = workflowDeployment({
  version: "3",
  concurrency: 8,
  drainTimeoutSeconds: 90,
  leaseMs: 20000,
  logLevel: "debug",
  redis: {
    url: "redis://sentinel:26379",
    username: "app",
    passwordSecretRef: { name: "redis", key: "password" },
    mode: "sentinel",
    sentinelName: "main",
    tls: { caSecretRef: { name: "redis-ca", key: "ca.crt" } },
  },
});
const deploymentEnv = buildDeployment(fullSpec, 1).spec!.template.spec!.containers[0]!.env!;

const demoWorkerArgs = workerProcessArgs(
  {
    workflowModule: "/x/video.ts",
    redisUrl: "redis://127.0.0.1:1",
    keyPrefix: "demo-1",
    concurrency: 3,
    drainTimeoutSeconds: 10,
    namePrefix: "w",
    env: {},
  },
  "w-1",
);

describe("every worker option has one definition", () => {
  for (const [key, spec] of options) {
    test(`${key}: the operator's Deployment sets ${spec.env} or leaves it to its default, by name`, () => {
      const set = deploymentEnv.some((variable) => variable.name === spec.env);
      const left = WORKER_OPTIONS_LEFT_TO_DEFAULTS[key] !== undefined;
      assert.ok(set !== left, `${spec.env}: set ${set}, listed as left to its default ${left}`);
    });

    test(`${key}: \`floxide worker --help\` offers --${spec.flag} with ${spec.env}`, () => {
      const option = command("worker").options.find((o) => o.long === `--${spec.flag}`);
      assert.ok(option, `--${spec.flag}`);
      assert.equal(option.envVar, spec.env);
      assert.equal(option.defaultValue, spec.default);
    });

    test(`${key}: the local demo's worker processes pass --${spec.flag} or leave it to its default, by name`, () => {
      const set = demoWorkerArgs.includes(`--${spec.flag}`);
      const left = LOCAL_WORKER_OPTIONS_LEFT_TO_DEFAULTS[key] !== undefined;
      assert.ok(set !== left, `--${spec.flag}: set ${set}, listed as left to its default ${left}`);
      // What the demo passes is what the worker's own parser reads under this option.
      assert.equal(parseTableFlags(WORKER_OPTIONS, demoWorkerArgs)[key] !== undefined, set);
    });

    test(`${key}: docs/configuration.md has the row of the definition`, () => {
      const row = optionsReference({ [key]: spec }).split("\n")[2] as string;
      assert.ok(readFileSync(CONFIG_DOC, "utf8").includes(row), row);
    });
  }

  test("the Deployment sets no worker variable that the contract does not define", () => {
    const names = new Set(options.map(([, spec]) => spec.env));
    for (const variable of deploymentEnv) assert.ok(names.has(variable.name), variable.name);
  });

  test("what the Deployment sets is what the worker reads back", () => {
    const env = Object.fromEntries(
      deploymentEnv.map((variable) => [variable.name, variable.value ?? `<${variable.name} from the API>`]),
    );
    const config = loadWorkerConfig({}, env);
    assert.equal(config.workflow, fullSpec.spec.module);
    assert.equal(config.concurrency, 8);
    assert.equal(config.drainTimeoutSeconds, 90);
    assert.equal(config.leaseMs, 20000);
    assert.equal(config.redisMode, "sentinel");
    assert.equal(config.redisSentinelName, "main");
    assert.equal(config.port, fullSpec.spec.metricsPort);
  });

  test("the local demo's worker processes get flags the worker parses into what the demo meant", () => {
    const config = loadWorkerConfig(parseTableFlags(WORKER_OPTIONS, demoWorkerArgs), {});
    assert.deepEqual(
      [config.workflow, config.redisUrl, config.keyPrefix, config.concurrency, config.workerId, config.port],
      ["/x/video.ts", "redis://127.0.0.1:1", "demo-1", 3, "w-1", 0],
    );
  });

  test("every command that talks to Redis names it with the worker's Redis options", () => {
    const redisCommands = [
      ["run", "start"],
      ["run", "show"],
      ["run", "list"],
      ["queue", "stats"],
      ["queue", "dead"],
    ];
    for (const path of redisCommands) {
      for (const spec of Object.values(REDIS_OPTIONS) as OptionSpec[]) {
        const option = command(...path).options.find((o) => o.long === `--${spec.flag}`);
        assert.equal(option?.envVar, spec.env, `${path.join(" ")} --${spec.flag}`);
      }
    }
    for (const path of [["demo"], ["dev"]]) {
      const option = command(...path).options.find((o) => o.long === `--${REDIS_OPTIONS.redisUrl.flag}`);
      assert.equal(option?.envVar, REDIS_OPTIONS.redisUrl.env, `${path.join(" ")} --redis`);
    }
  });
});
