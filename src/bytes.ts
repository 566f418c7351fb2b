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

/** True when a[aStart, aStart+n) equals b[bStart, bStart+n). */
export function equalBytes(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}
