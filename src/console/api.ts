// The console's one HTTP client: every call carries the signed-in key as
// `Authorization: Bearer` (the key lives in sessionStorage, never in a URL).
const KEY = 'logplane.key';
/** The key's role, from GET /v3/account at sign-in: the page offers only what the key may do. */
const ROLE = 'logplane.role';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}
export function storedRole(): string | null {
  return sessionStorage.getItem(ROLE);
}
export function storeKey(key: string, role: string): void {
  sessionStorage.setItem(KEY, key);
  storeRole(role);
}
export function storeRole(role: string): void {
  sessionStorage.setItem(ROLE, role);
}
export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(ROLE);
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Called when the server refuses the stored key (revoked, changed): the app signs out. */
let onUnauthorized: (why: string) => void = () => {};
export function setUnauthorizedHandler(f: (why: string) => void): void {
  onUnauthorized = f;
}

/** A JSON call with the given key (default: the stored one); 4xx/5xx throw ApiError with the server's sentence. */
export async function call<T = unknown>(method: string, path: string, body?: unknown, key: string | null = storedKey()): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        accept: 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      // no cookies are used; and without credentials a 401's `WWW-Authenticate: Basic` cannot open the browser's own login prompt
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, 'the server cannot be reached');
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const msg = json && typeof (json as { error?: unknown }).error === 'string' ? (json as { error: string }).error : `HTTP ${res.status}`;
    const err = new ApiError(res.status, msg);
    if (res.status === 401 && key !== null && key === storedKey()) onUnauthorized('The server no longer accepts this key. Sign in again.');
    throw err;
  }
  return json as T;
}

export const enc = encodeURIComponent;
