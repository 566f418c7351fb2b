// README's Configuration section lists every setting logplane reads, and
// every number's range as loadConfig checks it: an operator reading it is
// not told something the start then refuses.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { settings } from '../../src/config.js';

const README = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
// the section, with its line breaks as spaces
const section = README.slice(README.indexOf('## Configuration'), README.indexOf('## Architecture')).replace(/\s+/g, ' ');

test('README names every setting with its flag and variable', () => {
  for (const s of settings) {
    assert.ok(section.includes(`\`${s.env}\``), s.env);
  }
});

test("README gives every number setting's range, as the start checks it", () => {
  for (const s of settings) {
    if (s.kind !== 'int') continue;
    assert.ok(section.includes(`\`${s.env}\` ${s.min}-${s.max}`), `${s.env} ${s.min}-${s.max}`);
  }
});
