// Byte helpers for the hot path. Buffer#copy and Buffer#compare cost a fixed
// ~50-100 ns per call in Node 20 (argument checks, a typed-array view per
// call); for the short fields of a log line a plain loop is several times faster.
// Faster still are 32-bit words through a DataView (TurboFan compiles each
// get/set to one unaligned load or store): copies, compares and byte searches
// then take a quarter of the steps of a byte loop.

/** Up to this many bytes a loop (no view to allocate) is as good as a native copy, end to end. */
const LOOP_MAX = 96;

/** Copy src[start, end) to dst at pos; returns the number of bytes copied. */
export function copyBytes(src: Uint8Array, start: number, end: number, dst: Uint8Array, pos: number): number {
  const n = end - start;
  if (n <= LOOP_MAX) {
    for (let i = 0; i < n; i++) dst[pos + i] = src[start + i]!;
  } else if (start === 0 && end === src.length) {
    dst.set(src, pos); // no view to allocate
  } else {
    dst.set(src.subarray(start, end), pos);
  }
  return n;
}

let wholeBuffer: ArrayBufferLike | null = null;
let wholeView: DataView | null = null;

/**
 * A DataView over the whole ArrayBuffer under b: b's bytes are at
 * b.byteOffset + i in it. The last one is kept, since Buffer.allocUnsafe
 * carves many small Buffers out of one pool (the lines route() is given and
 * routeFrom() makes mostly share one).
 */
export function arrayBufferView(b: Uint8Array): DataView {
  if (b.buffer !== wholeBuffer || wholeView === null) {
    wholeBuffer = b.buffer;
    wholeView = new DataView(b.buffer);
  }
  return wholeView;
}

let viewBuf: Uint8Array | null = null;
let view: DataView = new DataView(new ArrayBuffer(0));

/**
 * A DataView over exactly buf's bytes (offsets as in buf). The last one is
 * kept while the same buffer comes back, as it does for every frame of a
 * chunk: making a view costs ~80 ns, asking again for the same one ~1 ns. Use
 * it for the buffer being read (the chunk); a writer keeps its own view of
 * its output, or the two would evict each other.
 */
export function wordView(buf: Uint8Array): DataView {
  if (buf !== viewBuf) {
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    viewBuf = buf;
  }
  return view;
}

/** Up to this many bytes copyWords beats one native copy (~50 ns a call, and a view to make), measured under Node 20. */
export const WORDS_MAX = 192;

/**
 * Copy src[start, end) to dst at pos, 8 bytes per step through DataView
 * getFloat64/setFloat64; returns the number of bytes copied. No view is made
 * per call (unlike TypedArray#set on a subarray or Buffer#copy) and any
 * alignment works: a line of ~100-200 bytes takes about half the time of
 * TypedArray#set on a subarray, and 8-byte steps beat two 4-byte ones by
 * ~15% (Node 20). A float64 load and store move the 8 bytes as they are (V8
 * does not canonicalize NaNs through a DataView; the ring and bytes tests
 * check NaN bit patterns). src and dst are views of distinct memory: the
 * last step may rewrite bytes of the one before, overlapping.
 */
export function copyWords(src: DataView, start: number, end: number, dst: DataView, pos: number): number {
  const n = end - start;
  if (n < 8) {
    if (n < 4) {
      for (let i = 0; i < n; i++) dst.setUint8(pos + i, src.getUint8(start + i));
    } else {
      dst.setInt32(pos, src.getInt32(start, true), true);
      dst.setInt32(pos + n - 4, src.getInt32(end - 4, true), true);
    }
    return n;
  }
  let i = 0;
  for (; i + 8 <= n; i += 8) dst.setFloat64(pos + i, src.getFloat64(start + i, true), true);
  // 1-7 bytes left: the last eight again, overlapping
  if (i < n) dst.setFloat64(pos + n - 8, src.getFloat64(end - 8, true), true);
  return n;
}

/**
 * copyWords, looking for byte b on the way (one pass over the bytes instead
 * of a search, then a copy): returns the number of bytes copied, or -1 when
 * src[start, end) holds b (dst then holds part of the range, to be ignored).
 * The word test is indexOfByte's.
 */
export function copyWordsUnless(src: DataView, start: number, end: number, dst: DataView, pos: number, b: number): number {
  const n = end - start;
  if (n < 4) {
    for (let i = 0; i < n; i++) {
      const c = src.getUint8(start + i);
      if (c === b) return -1;
      dst.setUint8(pos + i, c);
    }
    return n;
  }
  const pattern = Math.imul(b, 0x01010101);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const w = src.getInt32(start + i, true);
    const v = src.getInt32(start + i + 4, true);
    const x = w ^ pattern;
    const y = v ^ pattern;
    if ((((x - 0x01010101) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) return -1;
    dst.setInt32(pos + i, w, true);
    dst.setInt32(pos + i + 4, v, true);
  }
  if (i + 4 <= n) {
    const w = src.getInt32(start + i, true);
    const x = w ^ pattern;
    if ((x - 0x01010101) & ~x & 0x80808080) return -1;
    dst.setInt32(pos + i, w, true);
    i += 4;
  }
  if (i < n) {
    const w = src.getInt32(end - 4, true);
    const x = w ^ pattern;
    if ((x - 0x01010101) & ~x & 0x80808080) return -1;
    dst.setInt32(pos + n - 4, w, true);
  }
  return n;
}

/** Past this many bytes one native indexOf (~45 ns a call, and a view to make) beats indexOfByte, measured under Node 20. */
export const SEARCH_WORDS_MAX = 256;

/**
 * Index of the first byte b in buf[start, end), or -1. Never looks past end
 * (indexOf searches to the end of the buffer: a whole chunk for every frame).
 * By 32-bit words: x = word XOR b*0x01010101 has a zero byte where b is, and
 * (x - 0x01010101) & ~x & 0x80808080 flags zero bytes, the lowest flag
 * exactly (a borrow only runs upward from a true zero byte, so only flags
 * above it can be false); its position is the byte's. The last word of the
 * range is read overlapping the one before: bytes already searched hold no b,
 * so the lowest flag is still the first b.
 */
export function indexOfByte(buf: Uint8Array, b: number, start: number, end: number): number {
  const n = end - start;
  if (n > SEARCH_WORDS_MAX) {
    const at = buf.subarray(start, end).indexOf(b);
    return at === -1 ? -1 : start + at;
  }
  if (n < 4) {
    for (let i = start; i < end; i++) if (buf[i] === b) return i;
    return -1;
  }
  const dv = wordView(buf);
  const pattern = Math.imul(b, 0x01010101);
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const x = dv.getInt32(i, true) ^ pattern;
    const zx = (x - 0x01010101) & ~x & 0x80808080;
    if (zx !== 0) return i + firstFlagged(zx);
    const y = dv.getInt32(i + 4, true) ^ pattern;
    const zy = (y - 0x01010101) & ~y & 0x80808080;
    if (zy !== 0) return i + 4 + firstFlagged(zy);
  }
  if (i + 4 <= end) {
    const x = dv.getInt32(i, true) ^ pattern;
    const zx = (x - 0x01010101) & ~x & 0x80808080;
    if (zx !== 0) return i + firstFlagged(zx);
    i += 4;
  }
  if (i < end) {
    const x = dv.getInt32(end - 4, true) ^ pattern;
    const zx = (x - 0x01010101) & ~x & 0x80808080;
    if (zx !== 0) return end - 4 + firstFlagged(zx);
  }
  return -1;
}

/** Byte index (0-3, little-endian) of the lowest flag in z (flags at bits 7, 15, 23, 31). */
function firstFlagged(z: number): number {
  return (31 - Math.clz32(z & -z)) >>> 3;
}
