// Byte helpers for the hot path. Buffer#copy and Buffer#compare cost a fixed
// ~50-100 ns per call in Node 20 (argument checks, a typed-array view per
// call); for the short fields of a log line a plain loop is several times faster.

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

/**
 * Copy n bytes from src at s to dst at d (positions within the views), 8 at
 * a time through DataView getFloat64/setFloat64, the rest byte by byte. No
 * view is made per call (unlike TypedArray#set on a subarray or Buffer#copy),
 * and any alignment works. For the ~100-200-byte lines the main thread copies
 * into ring pages it takes about half the time of TypedArray#set on a
 * subarray (node 20). A float64 load and store move the 8 bytes as they are:
 * V8 does not canonicalize NaNs through a DataView, which the ring tests
 * check with NaN bit patterns.
 */
export function copyWide(src: DataView, s: number, dst: DataView, d: number, n: number): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) dst.setFloat64(d + i, src.getFloat64(s + i, true), true);
  for (; i < n; i++) dst.setUint8(d + i, src.getUint8(s + i));
}

/** True when a[aStart, aStart+n) equals b[bStart, bStart+n). */
export function equalBytes(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}
