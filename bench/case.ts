// What a bench case is: a name (`<source>_to_<sink>` for end-to-end cases,
// `<component>_<what>` for micro benches), a one-line description, and run(),
// which measures and returns rows for the table and the JSON results.

export type Value = number | string | boolean | null;

export interface Column {
  key: string;
  label: string;
  /** Shown after the label, e.g. `lines/s`. */
  unit?: string;
  /** Decimal places for numbers (default 0). */
  digits?: number;
}

export interface CaseResult {
  columns: Column[];
  rows: Record<string, Value>[];
  /** Free-text remarks printed under the table (counts dropped, deadlines hit...). */
  notes: string[];
  /** More tables, printed after the first one with their titles. */
  tables?: { title: string; columns: Column[]; rows: Record<string, Value>[] }[];
  /** Anything else worth keeping in the JSON (not printed). */
  extra?: Record<string, unknown>;
}

export interface CaseOptions {
  /** `--lines N` from the command line, when given: each case scales to it as it sees fit. */
  lines: number | null;
  /** `--rounds N`, for cases that repeat their runs and report medians. */
  rounds: number | null;
  /** `--warmup N`: lines handled before a case's measured window opens, for cases that have one. */
  warmup: number | null;
  /** `--consumers N`: apps given a drain and a tail during the load, for cases that attach them. */
  consumers: number | null;
  /** `--env NAME=VALUE` (repeatable): extra environment for every logplane server a case spawns. */
  env: Record<string, string>;
}

export interface BenchCase {
  name: string;
  about: string;
  run(opts: CaseOptions): Promise<CaseResult>;
}
