/**
 * The Redis Cluster slot of a key (the cluster specification: CRC16/XMODEM of the key's hash tag,
 * modulo 16384). The replicated commit sends to the slot's master itself, to know the connection
 * its WAIT must follow (replicated-call.ts).
 */
export const CLUSTER_SLOTS = 16384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte += 1) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit += 1)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

/** CRC16/XMODEM of `bytes`, continuing from `crc` (the CRC of what came before them). */
export function crc16(bytes: Uint8Array, crc = 0): number {
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number);
  return crc;
}

/** crc16 of the ASCII digits of a non-negative integer (no allocation: the tag search tries many). */
export function crc16Digits(value: number, crc: number): number {
  const digits = String(value);
  for (let i = 0; i < digits.length; i += 1)
    crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ digits.charCodeAt(i)) & 0xff] as number);
  return crc;
}

/** Only the part between the first `{` and the next `}` counts, when that part is not empty. */
export function keySlot(key: string): number {
  const open = key.indexOf("{");
  const close = open < 0 ? -1 : key.indexOf("}", open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(hashed, "utf8")) % CLUSTER_SLOTS;
}
