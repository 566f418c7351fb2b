// Per-app seq in distributed mode: a hybrid logical clock. Every node stamps
// the lines it ingests without asking anyone:
//
//   seq = (ms since 2026-01-01) * 8192 + counter * 256 + node
//
// node (8 bits) is this node's index, claimed in Redis (nodes.ts), so two
// nodes never make the same seq; counter (5 bits) allows 32 lines per ms per
// app per node before the clock runs ahead of the wall clock (it catches up
// when the rate drops). A new seq is the smallest value with our node bits
// that is above both the app's last seq (ours or one seen from another node)
// and the line's received time: strictly increasing on each node, and in time
// order across nodes to the millisecond (given NTP-synced clocks). Seqs stay
// below 2^53 until 2060, so they are exact in a double and in JSON.
import type { SeqClock } from '../apps.js';
import { NODE_SLOTS, SEQ_EPOCH_MS, SEQ_PER_MS } from '../basics/seq.js';

export class HybridSeq implements SeqClock {
  /** This node's index (0..255); changes only if the node loses its claim. */
  node: number;

  constructor(node: number) {
    if (!Number.isInteger(node) || node < 0 || node >= NODE_SLOTS) throw new RangeError('node index must be 0..255');
    this.node = node;
  }

  next(last: number, receivedMs: number): number {
    let base = (receivedMs - SEQ_EPOCH_MS) * SEQ_PER_MS;
    if (!(base > last)) base = last + 1;
    else base = Math.floor(base);
    // base is an integer below 2^53: dividing by a power of two and flooring is exact, and cheaper per line than % on a double (a libm call)
    const r = base - Math.floor(base / NODE_SLOTS) * NODE_SLOTS;
    const node = this.node;
    return r <= node ? base - r + node : base - r + NODE_SLOTS + node;
  }
}
