// Build lines (SPEC 14): what the build system says, as a `heroku build` line.
import type { App } from '../apps.js';
import type { Publisher } from './publish.js';
import { PLATFORM_PRI } from './platform.js';

export interface BuildFields {
  msg: string;
}

/** Publish a build line to app (source heroku, dyno build); a multi-line msg becomes one line per LF. */
export function emitBuild(publisher: Publisher, app: App, f: BuildFields, time?: Date | number): number {
  return publisher.publish(app, { source: 'heroku', dyno: 'build', msg: f.msg, pri: PLATFORM_PRI, ...(time !== undefined ? { time } : {}) });
}
