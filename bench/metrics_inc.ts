// Metric update cost: ns per operation of a pre-resolved plain-number child
// (what the hot paths do: `child.value++`, `child.inc(n)`) against
// prom-client's own counter inc() and histogram observe(), and the cost of one
// scrape. A micro bench, not a test; figures in docs/operations.md.
//
//   node dist/bench/metrics_inc.js [--ops N]
import { Counter, Histogram, Registry as PromRegistry } from 'prom-client';
import { Registry } from '../src/obs/metrics.js';
import { renderTable } from './support/table.js';

const argOps = process.argv.indexOf('--ops');
const OPS = argOps > 0 ? Number(process.argv[argOps + 1]) : 20_000_000;

/** Best of five runs of `ops` calls of `fn(i)`, in ns per call. */
function time(ops: number, fn: (i: number) => void): number {
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) fn(i);
    const ns = Number(process.hrtime.bigint() - t0) / ops;
    if (ns < best) best = ns;
  }
  return best;
}

const ours = new Registry();
const lines = ours.counter('bench_lines_total', 'x', ['transport']);
const tcp = lines.labels('tcp');
const udp = lines.labels('udp');
const hist = ours.histogram('bench_delivery_seconds', 'x', ['kind'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
const hHttps = hist.labels('https');

const prom = new PromRegistry();
const pLines = new Counter({ name: 'bench_lines_total', help: 'x', labelNames: ['transport'], registers: [prom] });
const pTcp = pLines.labels('tcp');
const pHist = new Histogram({ name: 'bench_delivery_seconds', help: 'x', labelNames: ['kind'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [prom] });
const pHttps = pHist.labels('https');

const rows = [
  { what: 'plain child: child.value++ (hot paths)', ns: time(OPS, (i) => void ((i & 1 ? tcp : udp).value++)) },
  { what: 'plain child: child.inc(n)', ns: time(OPS, (i) => (i & 1 ? tcp : udp).inc(i & 7)) },
  { what: 'prom-client: counter.labels(..).inc() (pre-bound)', ns: time(OPS / 10, () => pTcp.inc()) },
  { what: 'prom-client: counter.inc({transport}, n)', ns: time(OPS / 10, (i) => pLines.inc({ transport: i & 1 ? 'tcp' : 'udp' }, 1)) },
  { what: 'histogram child observe() (prom-client, pre-bound)', ns: time(OPS / 10, (i) => hHttps.observe((i & 1023) / 1000)) },
  { what: 'prom-client: histogram.labels(..).observe() (pre-bound)', ns: time(OPS / 10, (i) => pHttps.observe((i & 1023) / 1000)) },
];
// The sanity check that the loops were not optimised away.
if (tcp.value + udp.value === 0) throw new Error('no increments counted');

// A scrape of a registry shaped like a node's (about 100 series).
const scrape = new Registry();
for (let m = 0; m < 10; m++) {
  const c = scrape.counter(`bench_scrape_${m}_total`, 'x', ['a', 'b']);
  for (let i = 0; i < 10; i++) c.labels(`a${i}`, 'b').value = i;
}
let best = Infinity;
for (let i = 0; i < 200; i++) {
  const t0 = process.hrtime.bigint();
  await scrape.render();
  best = Math.min(best, Number(process.hrtime.bigint() - t0));
}

process.stdout.write(
  renderTable(
    [
      { key: 'what', label: 'operation' },
      { key: 'ns', label: 'cost', unit: 'ns/op', digits: 1 },
    ],
    rows,
  ),
);
process.stdout.write(`\none scrape of 100 counter series (collect + render by prom-client): ${(best / 1000).toFixed(0)} µs (best of 200)\n`);
