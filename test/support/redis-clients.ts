/** What a test sees of a process's Redis connections: CLIENT LIST entries by connection name. */
import type { Redis } from "ioredis";

/** The connections named `name` (ioredis `connectionName`): address and current command. */
export async function clientsNamed(admin: Redis, name: string): Promise<{ addr: string; cmd: string }[]> {
  const list = String(await admin.call("CLIENT", "LIST"));
  return list
    .split("\n")
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => ({ addr: /addr=(\S+)/.exec(line)?.[1] ?? "", cmd: /cmd=(\S+)/.exec(line)?.[1] ?? "" }));
}

/** How many of those connections are blocked in BZPOPMIN (a claim waiting for work). */
export async function blockedCount(admin: Redis, name: string): Promise<number> {
  return (await clientsNamed(admin, name)).filter((client) => client.cmd === "bzpopmin").length;
}
