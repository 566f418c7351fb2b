// The README's shell examples as data, for test/e2e/readme.test.ts: every
// ```sh block with the readme-test markers written just above it (HTML
// comments, invisible when the README is rendered):
//
//   <!-- readme-test: skip: REASON -->          not run (installs, the heroku CLI, ...)
//   <!-- readme-test: interrupt -->             runs until Ctrl-C: once it has printed a
//                                               line it gets SIGINT and must exit 0
//   <!-- readme-test: arrives APP MESSAGE -->   afterwards APP's history holds a line whose
//                                               message contains MESSAGE (repeatable)
//
// Every other ```sh block runs and must exit 0.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  script: string;
  skip: string | null;
  interrupt: boolean;
  arrives: { app: string; message: string }[];
}

const MARKER = /^<!-- readme-test: (.*?) -->$/;

export function readmeBlocks(text: string): ReadmeBlock[] {
  const lines = text.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(`{3,})(.*)$/.exec(lines[i]!);
    if (!fence) continue;
    const close = lines.findIndex((l, j) => j > i && l.startsWith(fence[1]!) && l.trim() === fence[1]);
    if (close === -1) throw new Error(`README line ${i + 1}: unclosed code block`);
    if (fence[2]!.trim() === 'sh') {
      const block: ReadmeBlock = { line: i + 1, script: lines.slice(i + 1, close).join('\n'), skip: null, interrupt: false, arrives: [] };
      for (let k = i - 1; k >= 0; k--) {
        const m = MARKER.exec(lines[k]!.trim());
        if (!m) break;
        const body = m[1]!;
        let a: RegExpExecArray | null;
        if (body.startsWith('skip:')) block.skip = body.slice(5).trim();
        else if (body === 'interrupt') block.interrupt = true;
        else if ((a = /^arrives (\S+) (.+)$/.exec(body))) block.arrives.push({ app: a[1]!, message: a[2]! });
        else throw new Error(`README line ${k + 1}: unknown readme-test marker ${JSON.stringify(body)}`);
      }
      blocks.push(block);
    }
    i = close;
  }
  return blocks;
}

export function readReadme(repo: string): ReadmeBlock[] {
  return readmeBlocks(readFileSync(join(repo, 'README.md'), 'utf8'));
}
