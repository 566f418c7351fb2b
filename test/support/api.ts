// The one JSON API client of the tests: a request to a logplane with admin
// auth, its answer read whole (bounded in time).

export interface ApiTarget {
  url: string;
  /** Authorization header value; none when absent. */
  auth?: string;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON, else null. */
  json: any;
}

/** body: an object is sent as JSON; a string is sent as is (with a JSON Content-Type). */
export async function api(target: ApiTarget, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const res = await fetch(`${target.url}${path}`, {
    method,
    headers: { ...(target.auth ? { authorization: target.auth } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, text, json };
}
