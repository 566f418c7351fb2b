// Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its hash tag
// (the part between the first `{` and the next `}` when not empty), mod 16384.
// Every key of an app is tagged `{<app>}` (keys.ts), so they share a slot.

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  TABLE[i] = c;
}

export const SLOTS = 16384;

/** The hash slot of a key. */
export function slotOf(key: string): number {
  let s = 0;
  let e = key.length;
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) {
      s = open + 1;
      e = close;
    }
  }
  const b = Buffer.from(key.slice(s, e), 'utf8');
  let crc = 0;
  for (let i = 0; i < b.length; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ b[i]!) & 0xff]!;
  return crc % SLOTS;
}
