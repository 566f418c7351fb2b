// Headroom for V8's old generation, so a small heap under a steady stream of
// requests is not marked and compacted ten times a second.
//
// V8 starts a full (mark-compact) collection once the old generation's free
// room under its limit is less than the young generation's capacity (32 MB
// with Node's defaults), and after each one it sets the limit from the live
// size times a growing factor. A logplane node's JS heap is small (20-30 MB:
// lines live in ring pages outside it), so the limit came out 20-30 MB above
// the live size, and the few objects each HTTP request promotes brought the
// room under 32 MB again within ~80 ms. Measured on `POST /logs` with 500-line
// bodies from 4 shippers: a mark-compact every 70-100 ms, its concurrent
// marking ~20% of the node's CPU (syslog over TCP promotes almost nothing and
// was not affected). With the limit held HEADROOM above the live size there
// were 5 in 7 s, and the node ingested ~45% more lines per CPU-second
// (bench/RESULTS.md, session 10).
//
// The factor is V8's `--heap-growing-percent`, which V8 reads at each
// collection, so it can be set while running: percent = headroom / used heap,
// capped at MAX_PERCENT; from a heap of 8 x headroom on, V8's own factor
// (at least 1.1) already leaves the headroom and the flag goes back to 0
// (V8's own heuristics). The cost is memory: up to the headroom in garbage
// before a full collection.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';

const MB = 1024 * 1024;
/** V8's growing factor is 1 + percent / 100: at most 5x the live size. */
const MAX_PERCENT = 400;
/** Re-read the heap this often. */
const EVERY_MS = 5000;

/** The growing percent that leaves headroomMb above a heap of usedBytes (0: V8's own). */
export function growingPercent(usedBytes: number, headroomMb: number): number {
  if (headroomMb <= 0) return 0;
  const used = Math.max(usedBytes, MB);
  if (used >= 8 * headroomMb * MB) return 0;
  return Math.min(MAX_PERCENT, Math.ceil((100 * headroomMb * MB) / used));
}

export interface HeapTuner {
  /** The percent last set (0: V8's own factor). */
  readonly percent: number;
  stop(): void;
}

/**
 * Keep the old generation's limit headroomMb above its live size, for the
 * whole process (V8 flags are per process: every isolate, workers
 * included). 0 turns it off and leaves V8's flag alone.
 */
export function startHeapTuner(headroomMb: number, set: (flags: string) => void = setFlagsFromString, used: () => number = () => getHeapStatistics().used_heap_size): HeapTuner {
  let percent = -1;
  const tune = (): void => {
    const p = growingPercent(used(), headroomMb);
    // a change under a tenth is not worth a flag write
    if (percent >= 0 && Math.abs(p - percent) <= percent / 10) return;
    percent = p;
    set(`--heap-growing-percent=${p}`);
  };
  if (headroomMb <= 0) return { percent: 0, stop: () => {} };
  tune();
  const timer = setInterval(tune, EVERY_MS);
  timer.unref();
  return {
    get percent() {
      return percent;
    },
    stop: () => clearInterval(timer),
  };
}
