// Error classes with stable codes. Start-up and programmer errors throw these;
// bad input on the hot path is counted, never thrown.

export const ErrorCode = {
  CONFIG: 'LPX_ERR_CONFIG',
  BAD_REQUEST: 'LPX_ERR_BAD_REQUEST',
  UNAUTHORIZED: 'LPX_ERR_UNAUTHORIZED',
  NOT_FOUND: 'LPX_ERR_NOT_FOUND',
  CONFLICT: 'LPX_ERR_CONFLICT',
  UNPROCESSABLE: 'LPX_ERR_UNPROCESSABLE',
  STORE: 'LPX_ERR_STORE',
  STATE: 'LPX_ERR_STATE',
  START: 'LPX_ERR_START',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class LogplaneError extends Error {
  readonly code: ErrorCode;
  /** HTTP status this error maps to when it reaches the API. */
  readonly status: number;
  /** Short machine id for the JSON body (`{"id": ..., "error": ...}`). */
  readonly id: string;
  constructor(code: ErrorCode, status: number, id: string, message: string) {
    super(message);
    this.name = 'LogplaneError';
    this.code = code;
    this.status = status;
    this.id = id;
  }
}

/** Invalid configuration: every problem found is listed, start-up stops. */
export class ConfigError extends LogplaneError {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(ErrorCode.CONFIG, 500, 'invalid_config', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export class BadRequestError extends LogplaneError {
  constructor(message: string, id = 'bad_request') {
    super(ErrorCode.BAD_REQUEST, 400, id, message);
    this.name = 'BadRequestError';
  }
}

export class UnauthorizedError extends LogplaneError {
  constructor(message = 'Unauthorized') {
    super(ErrorCode.UNAUTHORIZED, 401, 'unauthorized', message);
    this.name = 'UnauthorizedError';
  }
}

export class NotFoundError extends LogplaneError {
  constructor(message: string) {
    super(ErrorCode.NOT_FOUND, 404, 'not_found', message);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends LogplaneError {
  constructor(message: string) {
    super(ErrorCode.CONFLICT, 409, 'conflict', message);
    this.name = 'ConflictError';
  }
}

export class UnprocessableError extends LogplaneError {
  constructor(message: string, id = 'invalid_params') {
    super(ErrorCode.UNPROCESSABLE, 422, id, message);
    this.name = 'UnprocessableError';
  }
}

/** A limit refused the request for now (SPEC 17): `retryAfter` seconds from now it may succeed (the Retry-After header). */
export class LimitError extends LogplaneError {
  readonly retryAfter: number;
  constructor(code: ErrorCode, status: number, id: string, message: string, retryAfter: number) {
    super(code, status, id, message);
    this.name = 'LimitError';
    this.retryAfter = retryAfter;
  }
}

/** The config store cannot be read or written (Redis away, data dir full or read-only): nothing was changed. */
export class StoreError extends LogplaneError {
  constructor(message: string, id = 'store_unavailable') {
    super(ErrorCode.STORE, 503, id, message);
    this.name = 'StoreError';
  }
}

/** A part used before what it needs was started: a programmer error (the wiring's order, server.ts), never the client's. */
export class StateError extends LogplaneError {
  constructor(message: string, id = 'invalid_state') {
    super(ErrorCode.STATE, 500, id, message);
    this.name = 'StateError';
  }
}

/**
 * The service could not start for a reason outside its options (a port in
 * use, a data dir that cannot be made, Redis unreachable): the message is the
 * reason, `cause` the underlying error (its errno `code`, e.g. EADDRINUSE).
 */
export class StartError extends LogplaneError {
  constructor(cause: unknown) {
    super(ErrorCode.START, 500, 'start_failed', cause instanceof Error ? cause.message : String(cause));
    this.name = 'StartError';
    this.cause = cause;
  }
}

/** Another running server holds the data dir's lock (store/dir-lock.ts): this start is refused. */
export class DataDirInUseError extends LogplaneError {
  readonly dataDir: string;
  readonly holderPid: number;
  constructor(dataDir: string, holderPid: number, stopping: boolean) {
    const why = stopping ? 'is still stopping after the wait' : 'is running';
    super(
      ErrorCode.CONFLICT,
      409,
      'data_dir_in_use',
      `data dir ${dataDir} is in use: another logplane server (pid ${holderPid}) ${why}; stop it first, or give this one its own LOGPLANE_DATA_DIR (or --data-dir)`,
    );
    this.name = 'DataDirInUseError';
    this.dataDir = dataDir;
    this.holderPid = holderPid;
  }
}
