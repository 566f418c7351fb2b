// Reading the process limits the connection budget is derived from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionBudget, readFdLimit } from '../../src/ingest/limits.js';
import { udpKernelDrops } from '../../src/ingest/udp.js';

test('the open-file limit is read from /proc/self/limits text, unlimited included', () => {
  const text = 'Limit                     Soft Limit           Hard Limit           Units     \nMax processes             95000                95000                processes \nMax open files            1024                 4096                 files     \n';
  assert.deepEqual(readFdLimit(text), { soft: 1024, hard: 4096 });
  assert.deepEqual(readFdLimit('Max open files            unlimited            unlimited            files\n'), { soft: Number.MAX_SAFE_INTEGER, hard: Number.MAX_SAFE_INTEGER });
  assert.equal(readFdLimit('nothing here'), null);
});

test('the connection budget leaves descriptors for files and a reserve for the API under any fd limit', () => {
  assert.deepEqual(connectionBudget(1024), { nodeBudget: 922, httpReserve: 92 });
  assert.deepEqual(connectionBudget(20_000), { nodeBudget: 18_000, httpReserve: 256 });
  assert.deepEqual(connectionBudget(100), { nodeBudget: 36, httpReserve: 32 });
  assert.equal(connectionBudget(null).nodeBudget, Number.MAX_SAFE_INTEGER);
});

test('UDP kernel drops are summed over the sockets bound to the port, from /proc/net/udp text', () => {
  const text = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  512: 0100007F:1771 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123 2 0000000000000000 4242',
    '  513: 0100007F:1772 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 124 2 0000000000000000 7',
  ].join('\n');
  assert.equal(udpKernelDrops('udp', 6001, text), 4242);
  assert.equal(udpKernelDrops('udp', 9, text), 0);
});
