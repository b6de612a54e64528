/**
 * The operator's poll: the backlog reader the operator runs (operator/backlog/reader.ts) reads
 * queue depth and worker liveness of N WorkflowDeployments on one Redis. Each workflow gets a
 * backlog and two live workers first, so the replies are of realistic size. Reports wall time,
 * Redis round trips (the reader's connection sends one batch per endpoint) and Redis CPU per poll.
 */
import { Redis } from "ioredis";
import { RedisBacklogReader, type BacklogTarget } from "../operator/backlog/reader.ts";
import { versionField, WorkflowKeys } from "../worker/store/index.ts";
import { diff, readCounters } from "./redis-info.ts";
import { median } from "./stats.ts";

export interface OperatorPollResult {
  readonly workflows: number;
  readonly pollMs: number;
  readonly redisCpuMsPerPoll: number;
  readonly commandsPerPoll: number;
}

export async function runOperatorPoll(
  url: string,
  options: { workflows: number; polls: number },
): Promise<OperatorPollResult> {
  const admin = new Redis(url);
  await admin.flushall();
  const prefix = "operator";
  const targets: BacklogTarget[] = [];
  const fill = admin.pipeline();
  const at = Date.now();
  for (let i = 0; i < options.workflows; i += 1) {
    const workflow = `wf-${i}`;
    const keys = new WorkflowKeys(workflow, prefix);
    fill.hset(keys.key("versions"), versionField(keys.version), at);
    fill.rpush(keys.key("ready"), ...Array.from({ length: 5 }, (_, n) => `{"n":${n}}`));
    fill.zadd(keys.key("leases"), at + 30_000, `lease-${i}`);
    for (const w of [0, 1]) {
      const liveness = { workerId: `w${w}`, status: "busy", inFlight: 1, at };
      fill.hset(keys.key("workers"), `w${w}`, `${at + 60_000}|${JSON.stringify(liveness)}`);
    }
    targets.push({ key: `default/${workflow}`, workflow, prefix, partitions: 1, connection: { url } });
  }
  await fill.exec();
  const reader = new RedisBacklogReader();
  try {
    await reader.read(targets); // connects
    const times: number[] = [];
    const before = await readCounters(admin);
    for (let p = 0; p < options.polls; p += 1) {
      const t0 = performance.now();
      const readings = await reader.read(targets);
      times.push(performance.now() - t0);
      if (readings.size !== targets.length) throw new Error("the backlog reader missed workflows");
    }
    const used = diff(before, await readCounters(admin));
    return {
      workflows: options.workflows,
      pollMs: median(times),
      redisCpuMsPerPoll: (used.cpuSeconds * 1000) / options.polls,
      // Less the INFO call that reads the counters.
      commandsPerPoll: (used.commands - 1) / options.polls,
    };
  } finally {
    await reader.close();
    admin.disconnect();
  }
}
