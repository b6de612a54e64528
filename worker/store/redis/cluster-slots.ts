/**
 * Which Cluster node serves a key, so a reader can send one pipeline per node (ioredis refuses a
 * pipeline whose keys span nodes). The slot is Redis' own: CRC16 (XMODEM) of the key's hash tag,
 * modulo 16384.
 */
import { Cluster } from "ioredis";
import type { RedisClient } from "./connection.ts";

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Cluster slot of a key (its `{tag}` when it has a non-empty one). */
export function keySlot(key: string): number {
  const open = key.indexOf("{");
  const close = open === -1 ? -1 : key.indexOf("}", open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(hashed, "utf8")) % 16384;
}

/**
 * Groups items by the node that serves their key: one group for a standalone or Sentinel client.
 * A slot whose node is not known yet gets a group of its own (ioredis then routes it).
 */
export function groupByNode<T>(redis: RedisClient, items: readonly T[], keyOf: (item: T) => string): T[][] {
  if (!(redis instanceof Cluster)) return items.length === 0 ? [] : [[...items]];
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const slot = keySlot(keyOf(item));
    const node = redis.slots[slot]?.[0] ?? `slot:${slot}`;
    groups.set(node, [...(groups.get(node) ?? []), item]);
  }
  return [...groups.values()];
}
