/** A worker configured with another partition count than the workflow's recorded one refuses to start. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { WORKER_OPTIONS } from "../../../contract/index.ts";
import { createRedisBackend } from "../../../worker/store/index.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";

const STEPS = "test/support/workflows/steps.ts"; // the workflow "steps"

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

test(
  "a worker of 4 partitions on a workflow recorded with 6 exits, naming both and the fix",
  { timeout: 60_000 },
  async () => {
    const keyPrefix = "worker-partitions";
    const backend = createRedisBackend({ connection: redis.url, keyPrefix, partitions: 6 });
    try {
      await backend.forWorkflow("steps").checkLayout(); // what the first worker of 6 records
    } finally {
      await backend.close();
    }
    const child = spawn(process.execPath, ["cli/main.ts", "worker", "--workflow", STEPS, "--port", "0"], {
      env: {
        ...process.env,
        [WORKER_OPTIONS.redisUrl.env]: redis.url,
        [WORKER_OPTIONS.keyPrefix.env]: keyPrefix,
        [WORKER_OPTIONS.partitions.env]: "4",
      },
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    assert.notEqual(code, 0);
    assert.match(output, /workflow 'steps' has 6 partition\(s\) in Redis/);
    assert.match(output, /configured with 4: set --partitions 6 \(FLOXIDE_PARTITIONS, spec\.partitions/);
  },
);
