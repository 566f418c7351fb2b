// What every component is handed at start: config, logs, metrics, registry.
import type { Access } from './access/access.js';
import type { Registry } from './apps.js';
import type { Config } from './config.js';
import type { Log } from './obs/log.js';
import type { Metrics } from './obs/metrics.js';

export interface Context {
  readonly config: Config;
  readonly log: Log;
  readonly metrics: Metrics;
  readonly registry: Registry;
  /** Who a request is, the failed-auth throttle, audit lines (SPEC 12). */
  readonly access: Access;
  /** Base URL for session URLs; known once the HTTP port is bound. */
  publicUrl: string;
}
