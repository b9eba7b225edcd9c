// The dashboard's speed in Chromium (a benchmark, not a test): a running
// gromo with a large store (scripts/bench.sh web makes one of 1,000,000
// sales and trains on it), Debian's chromium driven by playwright-core.
//
// Each run opens a new browser context (empty cache), signs in through
// /#key=KEY and measures with Chromium's own clock (performance.now(), from
// the navigation's start): first contentful paint, DOMContentLoaded, the
// navigation drawn after sign-in (gromo-shell-overview), the overview panel
// ready with all its data drawn (gromo-ready-overview) and the end of the
// last long task (> 50 ms) by then: interactive is the later of the two,
// when the page shows everything and its main thread is free for input. Then the map panel (every pincode)
// and, in the same context, a warm reload. Prints the medians and worst of
// RUNS, and the bytes the page transferred (compressed) beside the sizes
// the build recorded (build/web/build.json).
//
//   node bench/dashboard.mjs URL KEY [RUNS]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'web', 'package.json'));
const { chromium } = require('playwright-core');

const [url, key, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 5);
if (!url || !key) {
  console.error('usage: node bench/dashboard.mjs URL KEY [RUNS]');
  process.exit(2);
}
const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/* In the page: its timings so far, from the navigation's start. */
function timings(panel) {
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const ready = performance.getEntriesByName(`gromo-ready-${panel}`)[0];
  const shell = performance.getEntriesByName(`gromo-shell-${panel}`)[0];
  const longTasks = (window.__longTasks || []).filter((t) => !ready || t.startTime < ready.startTime + 5000);
  const lastLong = longTasks.reduce((m, t) => Math.max(m, t.startTime + t.duration), 0);
  const res = performance.getEntriesByType('resource');
  const assets = res.filter((r) => /\/assets\//.test(r.name) || r.initiatorType === 'navigation');
  return {
    fcp: fcp ? fcp.startTime : null,
    dcl: nav ? nav.domContentLoadedEventEnd : null,
    ready: ready ? ready.startTime : null,
    shell: shell ? shell.startTime : null,
    lastLongTask: lastLong,
    longTasks: longTasks.length,
    transferred: (nav ? nav.transferSize : 0) + assets.reduce((n, r) => n + (r.transferSize || 0), 0),
    decoded: (nav ? nav.decodedBodySize : 0) + assets.reduce((n, r) => n + (r.decodedBodySize || 0), 0),
    api: res.filter((r) => r.initiatorType === 'fetch').map((r) => [new URL(r.name).pathname + new URL(r.name).search, Math.round(r.duration)]),
  };
}

const observeLongTasks = () => {
  window.__longTasks = [];
  new PerformanceObserver((list) => window.__longTasks.push(...list.getEntries().map((e) => ({ startTime: e.startTime, duration: e.duration }))))
    .observe({ type: 'longtask', buffered: true });
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const worst = (xs) => Math.max(...xs);
const ms = (v) => `${Math.round(v)} ms`;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ARGS });
const cold = [], map = [], warm = [];
let apiTimes = null;
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  await context.addInitScript(observeLongTasks);
  const page = await context.newPage();
  await page.goto(`${url}/#key=${key}`);
  await page.waitForFunction(() => performance.getEntriesByName('gromo-ready-overview').length > 0, null, { timeout: 60000 });
  await page.waitForTimeout(300); // the charts' frame, and any late long task
  const t = await page.evaluate(timings, 'overview');
  cold.push(t);
  apiTimes = t.api;
  // the map: every pincode with sales
  const t0 = await page.evaluate(() => performance.now());
  await page.evaluate(() => { location.hash = '#/map'; });
  await page.waitForFunction(() => performance.getEntriesByName('gromo-ready-map').length > 0, null, { timeout: 60000 });
  const t1 = await page.evaluate(() => performance.getEntriesByName('gromo-ready-map')[0].startTime);
  map.push(t1 - t0);
  // warm: the same context (cache, key in sessionStorage) loads the overview again
  await page.goto(`${url}/#/overview`);
  await page.reload();
  await page.waitForFunction(() => performance.getEntriesByName('gromo-ready-overview').length > 0, null, { timeout: 60000 });
  await page.waitForTimeout(300);
  warm.push(await page.evaluate(timings, 'overview'));
  await context.close();
}
await browser.close();

const line = (label, xs) => console.log(`  ${label.padEnd(44)} ${ms(median(xs)).padStart(8)} median  ${ms(worst(xs)).padStart(8)} worst`);
console.log(`dashboard: ${runs} runs against ${url} (Chromium's clock, from the start of navigation)`);
console.log(' cold (empty cache):');
line('first contentful paint', cold.map((t) => t.fcp));
line('DOMContentLoaded', cold.map((t) => t.dcl));
line('signed in, navigation drawn', cold.map((t) => t.shell));
line('overview ready (all its data drawn)', cold.map((t) => t.ready));
line('interactive (ready, and no long task after)', cold.map((t) => Math.max(t.ready, t.lastLongTask)));
console.log(`  long tasks before ready: ${cold.map((t) => t.longTasks).join(', ')}`);
console.log(' warm (cached assets):');
line('DOMContentLoaded', warm.map((t) => t.dcl));
line('interactive', warm.map((t) => Math.max(t.ready, t.lastLongTask)));
console.log(' the map panel (every pincode with sales):');
line('from the click to the map drawn', map);
console.log(` API calls of the last cold run: ${apiTimes.map(([p, d]) => `${p} ${d} ms`).join('; ')}`);
const t = cold[0];
console.log(` transferred for the page and its assets: ${(t.transferred / 1024).toFixed(0)} KiB compressed ` +
  `(${(t.decoded / 1024).toFixed(0)} KiB decoded)`);
try {
  const b = JSON.parse(readFileSync(join(here, '..', 'build', 'web', 'build.json'), 'utf8'));
  console.log(` built assets, gzipped: dashboard ${(b.dashboard_gzip / 1024).toFixed(0)} KiB, ` +
    `API docs ${(b.docs_gzip / 1024).toFixed(0)} KiB, together ${((b.dashboard_gzip + b.docs_gzip) / 1024).toFixed(0)} KiB`);
} catch (e) {
  /* no build record */
}
