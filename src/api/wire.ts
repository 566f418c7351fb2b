// The drain JSON of the management API (GET /v3/channels/:app/drains, SPEC
// 6.5 and 16), as its clients read it: the CLI and the web console. Types
// only, so the browser bundle imports nothing of the server.

export interface DrainFilterJson {
  source: string | null;
  dyno: string | null;
  grep: string | null;
}

export interface DrainStatusJson {
  state: string;
  delivered: number;
  dropped: number;
  queue_depth: number;
  last_success_at: string | null;
  last_error: { at: string | null; status?: number; errno?: string; text: string } | null;
  next_retry_at: string | null;
  latency_ms?: { p50: number | null; p99: number | null };
  dropped_1h?: number;
}

export interface DrainJson {
  id: string;
  token: string;
  url: string;
  filter: DrainFilterJson | null;
  created_at: string;
  updated_at: string;
  status: DrainStatusJson;
}
