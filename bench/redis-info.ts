import type { Redis } from "ioredis";

export interface RedisCounters {
  readonly cpuSeconds: number;
  readonly commands: number;
  readonly netOutputBytes: number;
}

/** Redis' own CPU time and command count: what the server spent, whoever asked. */
export async function readCounters(redis: Redis): Promise<RedisCounters> {
  const info = await redis.info();
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:([\\d.]+)`, "m").exec(info);
    if (match === null) throw new Error(`INFO has no ${name}`);
    return Number(match[1]);
  };
  return {
    cpuSeconds: field("used_cpu_user") + field("used_cpu_sys"),
    commands: field("total_commands_processed"),
    netOutputBytes: field("total_net_output_bytes"),
  };
}

export function diff(a: RedisCounters, b: RedisCounters): RedisCounters {
  return {
    cpuSeconds: b.cpuSeconds - a.cpuSeconds,
    commands: b.commands - a.commands,
    netOutputBytes: b.netOutputBytes - a.netOutputBytes,
  };
}
