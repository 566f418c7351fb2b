// Which history layout this node writes, for rolling upgrades
// (docs/operations.md, "Upgrades"). Layout 2 is one list element per append
// (redis/scripts.ts); layout 1 is the previous release's, one element per
// line, which that release's nodes read and write. A node writes layout 1
// until the key lp:layout says 2, and sets that key itself once every live
// node in the registry says (in its info) that it writes layout 2: the last
// node of the previous release has left. The switch is per app and atomic in
// Redis (the append script marks the app's meta at its first layout-2
// append; later appends of any node follow it), and new nodes read both
// layouts, so nothing written before or during the upgrade is lost. On a
// Redis Cluster it is always 2 (the previous release did not run there).
import type { Redis } from 'ioredis';
import type { Log } from '../obs/log.js';
import { LAYOUT, nodeInfo } from '../redis/keys.js';
import type { NodeRegistry } from './nodes.js';

/** The layout this release writes, announced in each node's info. */
export const LAYOUT_VERSION = 2;

export class LayoutSwitch {
  readonly #redis: Redis;
  readonly #nodes: NodeRegistry;
  readonly #log: Log;
  #current: '1' | '2';
  #checking = false;
  /** Nodes of the previous release seen at the last check (logged when it changes). */
  #previous = 0;

  constructor(redis: Redis, nodes: NodeRegistry, log: Log, cluster: boolean) {
    this.#redis = redis;
    this.#nodes = nodes;
    this.#log = log;
    this.#current = cluster ? '2' : '1';
  }

  /** The layout appends ask for now. */
  get current(): '1' | '2' {
    return this.#current;
  }

  /** Learn the layout from Redis, or switch it when every live node writes layout 2 (after each heartbeat). */
  async check(): Promise<void> {
    if (this.#current === '2' || this.#checking) return;
    this.#checking = true;
    try {
      if ((await this.#redis.get(LAYOUT)) !== '2') {
        const ids = this.#nodes.live;
        if (ids.length === 0) return;
        const infos = await this.#redis.mget(...ids.map(nodeInfo));
        const old = infos.filter((raw) => !writesLayout2(raw)).length;
        if (old !== this.#previous) {
          this.#previous = old;
          if (old > 0) this.#log.info({ at: 'cluster.layout_waiting', nodes: ids.length, previous: old }, 'nodes of the previous release are running: history is written in their layout');
        }
        if (old > 0) return;
        await this.#redis.set(LAYOUT, String(LAYOUT_VERSION));
      }
      this.#current = '2';
      this.#log.info({ at: 'cluster.layout', layout: LAYOUT_VERSION }, 'history is written in the current layout');
    } catch (err) {
      this.#log.warn({ at: 'cluster.layout_check_failed', err: (err as Error).message }, 'could not check the history layout; retrying at the next heartbeat');
    } finally {
      this.#checking = false;
    }
  }
}

function writesLayout2(raw: string | null): boolean {
  if (raw === null) return false;
  try {
    const info = JSON.parse(raw) as { layout?: unknown };
    return typeof info.layout === 'number' && info.layout >= LAYOUT_VERSION;
  } catch {
    return false;
  }
}
