// Platform lines (SPEC 14): what the dyno manager says about a dyno, as a
// `heroku <dyno>` line: `State changed from starting to up`, or with an error
// code `Error R14 (Memory quota exceeded)` (Heroku's wording), optionally
// followed by ` -> <detail>` as Heroku writes R10 and the L codes.
import type { App } from '../apps.js';
import { BadRequestError } from '../errors.js';
import type { Publisher } from './publish.js';

export interface PlatformFields {
  /** The dyno the line is about (`web.1`); it becomes the line's dyno. */
  dyno: string;
  /** Heroku error code (`R14`): the line is `Error R14 (<text>)`. */
  code?: string;
  /** With a code, the description in parentheses (default: Heroku's for the code); without, the whole message. */
  text?: string;
  /** With a code, written after ` -> ` (`Error R10 (Boot timeout) -> Web process failed to bind...`). */
  detail?: string;
}

/** Heroku's runtime error codes and their descriptions (devcenter "Heroku Error Codes"). */
export const RUNTIME_ERRORS: Readonly<Record<string, string>> = {
  R10: 'Boot timeout',
  R12: 'Exit timeout',
  R13: 'Attach error',
  R14: 'Memory quota exceeded',
  R15: 'Memory quota vastly exceeded',
  R16: 'Detached',
  R17: 'Checksum error',
  R99: 'Platform error',
};

/** PRI of platform lines: 45 (syslog.notice), as Heroku's dyno manager sends them. */
export const PLATFORM_PRI = 45;

/** The message of a platform line. */
export function formatPlatform(f: Omit<PlatformFields, 'dyno'>): string {
  if (f.code === undefined) {
    if (f.text === undefined || f.text === '') throw new BadRequestError('text: required when there is no code', 'invalid_params');
    return f.text;
  }
  const desc = f.text ?? RUNTIME_ERRORS[f.code];
  if (desc === undefined) throw new BadRequestError(`text: required for code ${f.code} (no description known for it)`, 'invalid_params');
  return `Error ${f.code} (${desc})${f.detail ? ` -> ${f.detail}` : ''}`;
}

/** Publish a platform line to app (source heroku, dyno f.dyno). */
export function emitPlatform(publisher: Publisher, app: App, f: PlatformFields, time?: Date | number): number {
  return publisher.publish(app, { source: 'heroku', dyno: f.dyno, msg: formatPlatform(f), pri: PLATFORM_PRI, ...(time !== undefined ? { time } : {}) });
}
