// The dashboard in a real browser (Debian's Chromium driven by
// playwright-core; no browser is downloaded) against a real server with
// sample sales and a trained model: every panel renders with no console
// error and no failed request, the map and charts draw, each role sees
// only what it may, signing out forgets the key, upload and training show
// their progress; axe-core finds no serious or critical violation on any
// panel, and the panels work by keyboard; the overview shows the backtest
// of /models (and a note for a report without one), a pincode's detail its
// forecast for three consecutive periods. Screenshots of every panel are
// kept in build/web-test/artifacts/. The API docs (/docs) are checked too.
import axe from 'axe-core';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';

import { artifact, makeKey, sampleStore, startServer, testDir } from './lib.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// As root, without the sandbox; without the background networking that
// this machine's closed network refuses.
const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let srv;
let browser;
const keys = {};
let samplePincode;
let sampleRegion;

before(async () => {
  const db = sampleStore('dashboard');
  for (const role of ['viewer', 'analyst', 'admin']) keys[role] = makeKey(db, role, `dash-${role}`);
  srv = await startServer(db);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const res = await fetch(`${srv.url}/insights/pincodes?limit=1`, { headers: { 'X-API-Key': keys.viewer } });
  const top = (await res.json()).data.pincodes[0];
  samplePincode = top.pincode;
  sampleRegion = top.region_id;
});

after(async () => {
  if (browser) await browser.close();
  if (srv) assert.equal(await srv.stop(), 0);
});

/* A page that records every console error, page error, failed request and
 * answer >= 400 (unless `expect` says that answer is the point). */
async function open({ expect = [] } = {}) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !expect.some((e) => m.text().includes(`status of ${e.status}`)))
      problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // a download's blob: URL is handed to the browser, not fetched
    if (!r.url().startsWith('blob:')) problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !expect.some((e) => r.status() === e.status && r.url().includes(e.path)))
      problems.push(`${r.status()}: ${r.url()}`);
  });
  page.on('dialog', (d) => d.accept());
  return { page, context, problems };
}

async function signIn(page, role) {
  await page.goto(`${srv.url}/#key=${keys[role]}`);
  await page.waitForFunction(() => document.querySelector('main')?.dataset.ready === 'overview');
}

/* Waits until every chart under selector has drawn (its data-drawn is set
 * when ECharts has rendered and ended its animation) and painted pixels;
 * with allowNone, a page without such charts passes at once. */
async function whenDrawn(page, selector, allowNone = false) {
  await page.waitForFunction(([sel, none]) => {
    const charts = [...document.querySelectorAll(sel)];
    return (none || charts.length > 0) && charts.every((el) => {
      const c = el.querySelector('canvas');
      if (el.dataset.drawn !== 'true' || !c) return false;
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < data.length && n <= 50; i += 4 * 7) if (data[i] > 0) n++;
      return n > 50;
    });
  }, [selector, allowNone], { timeout: 20000 });
}

async function show(page, path, ready) {
  await page.goto(`${srv.url}/#/${path}`);
  await page.waitForFunction((w) => document.querySelector('main')?.dataset.ready === w,
    ready || path.split('/')[0], { timeout: 20000 });
  // charts are drawn after their data arrives (some in the next frame)
  await whenDrawn(page, 'main .chart:not([hidden])', true);
}

/* Painted pixels of each chart canvas in the panel: proof that it drew. */
function painted(page, selector = 'main canvas') {
  return page.$$eval(selector, (canvases) => canvases.map((c) => {
    const g = c.getContext('2d');
    const data = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4 * 7) if (data[i] > 0) n++;
    return n;
  }));
}

async function accessibility(page, name) {
  // evaluated through the devtools protocol: the page's CSP does not apply
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  writeFileSync(artifact(`axe-${name}.json`), JSON.stringify(result.violations, null, 1));
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.length} nodes, e.g. ${v.nodes[0]?.target}`), [],
    `${name}: axe violations`);
}

describe('every panel, as admin', () => {
  const panels = () => [
    ['overview', 'overview'], ['map', 'map'], ['rankings', 'rankings'],
    [`pincode/${samplePincode}`, 'pincode'], [`region/${sampleRegion}`, 'region'],
    ['offer', 'offer'], ['data', 'data'],
  ];
  let ctx;
  before(async () => {
    ctx = await open();
    await signIn(ctx.page, 'admin');
  });
  after(async () => ctx.context.close());

  test('each renders, draws, passes axe, with no error', async () => {
    for (const [path, name] of panels()) {
      await show(ctx.page, path);
      const h1 = await ctx.page.textContent('main h1');
      assert.ok(h1 && h1.length > 2, `${name}: a heading`);
      assert.equal(await ctx.page.locator('main .status.error').count(), 0, `${name}: no error shown`);
      if (!['offer', 'data'].includes(name)) {
        const px = await painted(ctx.page);
        assert.ok(px.length >= 1, `${name}: charts`);
        for (const [i, n] of px.entries()) assert.ok(n > 50, `${name}: chart ${i} drew (${n} pixels)`);
      }
      await ctx.page.screenshot({ path: artifact(`panel-${name}.png`), fullPage: true });
      await accessibility(ctx.page, name);
    }
    assert.deepEqual(ctx.problems, []);
  });

  test('the map draws every pincode and opens one on click', async () => {
    await show(ctx.page, 'map');
    const total = await ctx.page.evaluate(async () => {
      const key = sessionStorage.getItem('gromo.key');
      const r = await fetch('/insights/pincodes?limit=100000', { headers: { 'X-API-Key': key } });
      return (await r.json()).data.total;
    });
    const note = await ctx.page.textContent('.map-note');
    assert.match(note.replace(/,/g, ''), new RegExp(`^${total} pincodes on the map|^\\d+ pincodes on the map`));
    const [mapPixels] = await painted(ctx.page, '#india-map canvas');
    assert.ok(mapPixels > 2000, `the map drew (${mapPixels})`);
    await ctx.page.screenshot({ path: artifact('dashboard.png') }); // the README's
    // filters redraw it
    await ctx.page.selectOption('#map-colour', 'rise');
    await ctx.page.waitForFunction(() => !!document.querySelector('#map-colour'));
    await ctx.page.selectOption('#map-product', { index: 1 });
    const product = await ctx.page.$eval('#map-product', (s) => s.value);
    await ctx.page.waitForFunction((p) => {
      const m = document.querySelector('#india-map');
      return m?.dataset.view === `rise|${p}|` && m.dataset.drawn === 'true';
    }, product);
    await ctx.page.screenshot({ path: artifact('panel-map-rise.png') });
    // a click on the densest point opens its pincode
    const box = await ctx.page.locator('#india-map').boundingBox();
    await ctx.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const link = ctx.page.locator('.map-list a[href^="#/pincode/"]').first();
    const pin = (await link.textContent()).trim();
    await link.click();
    await ctx.page.waitForFunction(() => document.querySelector('main')?.dataset.ready === 'pincode');
    assert.equal(await ctx.page.textContent('main h1'), `Pincode ${pin}`);
    assert.deepEqual(ctx.problems, []);
  });

  test('rankings sort, filter and download CSV', async () => {
    await show(ctx.page, 'rankings');
    const firstRank = () => ctx.page.textContent('table.ranking tbody tr:first-child td:nth-child(2)');
    const byDemand = await firstRank();
    await ctx.page.selectOption('#rank-sort', 'rise');
    await ctx.page.waitForFunction(() => /probability of a rise/.test(document.querySelector('table.ranking caption')?.textContent || ''));
    await ctx.page.check('input[name="what"][value="regions"]');
    await ctx.page.waitForFunction(() => /regions by/.test(document.querySelector('table.ranking caption')?.textContent || ''));
    assert.ok(byDemand);
    const [download] = await Promise.all([
      ctx.page.waitForEvent('download'),
      ctx.page.click('#rank-csv'),
    ]);
    const file = join(testDir, 'rankings.csv');
    await download.saveAs(file);
    assert.match(download.suggestedFilename(), /^gromo-regions-v\d+-rise\.csv$/);
    assert.deepEqual(ctx.problems, []);
  });

  test('the pincode detail shows the forecast interval and its drivers', async () => {
    await show(ctx.page, `pincode/${samplePincode}`, 'pincode');
    await ctx.page.selectOption('#detail-product', { index: 1 });
    await ctx.page.waitForFunction(() => document.querySelector('#detail-product')?.selectedIndex === 1);
    await ctx.page.selectOption('#detail-channel', { index: 1 });
    await ctx.page.waitForFunction(() => document.querySelector('#detail-channel')?.selectedIndex === 1 &&
      !!document.querySelector('dl.facts'));
    await ctx.page.waitForFunction(() => /interval/.test(document.querySelector('dl.facts')?.textContent || ''));
    const why = ctx.page.locator('.drivers li');
    if (await why.count()) assert.match(await why.first().textContent(), /(raised|lowered) it/);
    await whenDrawn(ctx.page, 'main .chart');
    await ctx.page.screenshot({ path: artifact('panel-pincode-cell.png'), fullPage: true });
    assert.deepEqual(ctx.problems, []);
  });

  test('the customer offer answers, and shows what was wrong', async () => {
    await show(ctx.page, 'offer');
    await ctx.page.fill('#customer_age', '29');
    await ctx.page.fill('#customer_income', '42000');
    await ctx.page.fill('#pincode', samplePincode);
    await ctx.page.click('button[type="submit"]');
    await ctx.page.waitForSelector('.top-product');
    const top = await ctx.page.textContent('.top-product');
    assert.ok(top.length > 1);
    const [px] = await painted(ctx.page, 'main .card canvas');
    assert.ok(px > 50);
    await ctx.page.screenshot({ path: artifact('panel-offer-answer.png'), fullPage: true });
    assert.deepEqual(ctx.problems, []);
  });

  test('upload shows its progress and the rejected rows', async () => {
    await show(ctx.page, 'data');
    let csv = 'date,pincode,city,product,channel,customer_age,customer_income\n';
    for (let i = 0; i < 4000; i++)
      csv += `2026-06-${String(1 + (i % 28)).padStart(2, '0')},${samplePincode},,loan,online,${20 + (i % 50)},${30000 + i}\n`;
    csv += '2026-06-02,12,,loan,online,30,1000\n2026-06-03,400001,,loan,online,7,1000\n';
    const file = join(testDir, 'upload.csv');
    writeFileSync(file, csv);
    await ctx.page.setInputFiles('#upload-file', file);
    await ctx.page.click('#upload-button');
    await ctx.page.waitForSelector('#upload-result .status');
    assert.equal(await ctx.page.$eval('#upload-progress', (p) => p.value), 1);
    assert.match(await ctx.page.textContent('#upload-result .status'), /Stored 4,000 of 4,002 records/);
    const rows = await ctx.page.$$eval('#upload-result table.errors tbody tr', (tr) => tr.map((r) => r.textContent));
    assert.equal(rows.length, 2);
    assert.match(rows[0], /pincode/);
    assert.match(rows[1], /customer_age/);
    await ctx.page.screenshot({ path: artifact('panel-data-upload.png'), fullPage: true });
    assert.deepEqual(ctx.problems, []);
  });

  test('training shows its stages, then a rollback serves the old version', async () => {
    await show(ctx.page, 'data');
    await ctx.page.fill('#train-rounds', '8');
    await ctx.page.click('#train-button');
    const stages = new Set();
    for (let i = 0; i < 600; i++) {
      const s = await ctx.page.textContent('#train-stage');
      stages.add(s.replace(/\(.*\)/, '').replace(/Job \w+: /, ''));
      if (/succeeded|failed/.test(s)) break;
      await ctx.page.waitForTimeout(100);
    }
    const text = [...stages].join(' | ');
    assert.match(text, /succeeded/, text);
    assert.ok(stages.size >= 3, `stages seen: ${text}`);
    assert.equal(await ctx.page.$eval('#train-progress', (p) => p.value), 1);
    await ctx.page.waitForSelector('button[data-version]');
    const version = await ctx.page.getAttribute('button[data-version]', 'data-version');
    await ctx.page.click(`button[data-version="${version}"]`);
    await ctx.page.waitForFunction((v) => document.querySelector('#versions-note .status.ok')?.textContent.includes(`version ${v} serves now`), version);
    await ctx.page.waitForFunction((v) => !document.querySelector(`button[data-version="${v}"]`), version);
    assert.deepEqual(ctx.problems, []);
  });
});

/* The API's answer, with the key of a role (from Node, not the page). */
async function apiGet(path, role = 'viewer') {
  const res = await fetch(`${srv.url}${path}`, { headers: { 'X-API-Key': keys[role] } });
  assert.equal(res.status, 200, path);
  return (await res.json()).data;
}

async function apiPost(path, body, role = 'analyst') {
  const res = await fetch(`${srv.url}${path}`, { method: 'POST', body: JSON.stringify(body),
    headers: { 'X-API-Key': keys[role], 'Content-Type': 'application/json' } });
  assert.equal(res.status, 200, path);
  return (await res.json()).data;
}

async function goTo(page, path, ready) {
  await page.goto(`${srv.url}/#/${path}`);
  await page.waitForFunction((w) => document.querySelector('main')?.dataset.ready === w, ready, { timeout: 20000 });
}

// the overview's formats (web/src/panels/backtest.js)
const signedPct = (v) => `${v > 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;
const pct1 = (v) => `${(v * 100).toFixed(1)}%`;
const dayAfter = (iso, n = 1) => {
  const [y, m, d] = iso.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
};

describe('backtest and forecast horizons', () => {
  test('the overview shows the backtest of /models per horizon and by as-of date', async () => {
    const { page, context, problems } = await open();
    await signIn(page, 'viewer');
    const report = await apiGet('/models');
    const bt = report.backtest;
    assert.ok(bt && bt.horizons, 'the serving version has a backtest');
    await page.waitForSelector('section.backtest table.backtest-summary');
    const cell = (row, hz) => page.textContent(`table.backtest-summary tbody tr[data-figure="${row}"] td[data-horizon="${hz}"]`);
    assert.deepEqual(Object.keys(bt.horizons).sort(), ['1', '2', '3']);
    for (const hz of ['1', '2', '3']) {
      const s = bt.horizons[hz];
      assert.match(await cell(0, hz), new RegExp(`^${s.months} dates`));
      assert.ok((await cell(1, hz)).startsWith(signedPct(s.bias)), `bias, horizon ${hz}`);
      assert.ok((await cell(2, hz)).startsWith(signedPct(s.largest_product_bias)), `product bias, horizon ${hz}`);
      assert.ok((await cell(3, hz)).startsWith(pct1(s.skill)), `skill, horizon ${hz}`);
      // the sample store has busy cells (lib.mjs), so coverage is a number
      assert.equal(typeof s.interval_coverage_expected_1_or_more, 'number', `coverage, horizon ${hz}`);
      const cov = await cell(4, hz);
      assert.ok(cov.startsWith(`${pct1(s.interval_coverage_expected_1_or_more)} of ${s.cells_expected_1_or_more.toLocaleString('en-IN')} cells`), cov);
      assert.ok(cov.includes(`by month ${pct1(s.interval_coverage_expected_1_or_more_lowest_month)} to ${pct1(s.interval_coverage_expected_1_or_more_highest_month)}`), cov);
      assert.equal(await cell(5, hz), `${s.interval_score.toFixed(2)} sales`);
    }
    // the charts by as-of date: horizon 1 first, then 2 and 3 from the selector
    for (const hz of [1, 2, 3]) {
      if (hz > 1) {
        await page.focus('#backtest-horizon');
        await page.selectOption('#backtest-horizon', String(hz));
      }
      await page.waitForFunction((x) => document.querySelector('section.backtest')?.dataset.horizon === String(x), hz);
      await whenDrawn(page, '#backtest-bias, #backtest-coverage');
      const months = bt.by_month.filter((m) => m.horizon === hz).sort((a, b) => a.as_of.localeCompare(b.as_of));
      const label = await page.getAttribute('#backtest-bias', 'aria-label');
      assert.match(label, new RegExp(`${hz} periods? ahead`));
      assert.match(await page.getAttribute('#backtest-coverage', 'aria-label'), /band 77\.0% to 83\.0%/);
      const rows = await page.$$eval('table.backtest-months tbody tr', (trs) => trs.map((tr) => ({
        asOf: tr.querySelector('time').getAttribute('datetime'),
        bias: tr.children[2].textContent,
      })));
      assert.deepEqual(rows.map((r) => r.asOf), months.map((m) => m.as_of));
      assert.deepEqual(rows.map((r) => r.bias), months.map((m) => signedPct(m.all.bias)));
      if (hz > 1) assert.equal(await page.evaluate(() => document.activeElement.id), 'backtest-horizon', 'focus stays on the selector');
    }
    await page.click('.backtest-details summary');
    await page.screenshot({ path: artifact('panel-overview-backtest.png'), fullPage: true });
    await accessibility(page, 'overview-backtest');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a model version without a backtest gets a note', async () => {
    const { page, context, problems } = await open();
    // an older release's report: the same answer without `backtest`
    await page.route('**/models', async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      delete body.data.backtest;
      await route.fulfill({ response: res, json: body });
    });
    await signIn(page, 'viewer');
    await page.waitForSelector('section.backtest .status.info');
    assert.match(await page.textContent('section.backtest'), /no backtest figures/);
    assert.equal(await page.locator('#backtest-horizon, #backtest-bias').count(), 0);
    assert.equal(await page.locator('main .status.error').count(), 0);
    await accessibility(page, 'overview-no-backtest');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('the pincode detail shows three horizons with consecutive periods', async () => {
    const { page, context, problems } = await open();
    const batches = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().includes('/predict/')) batches.push({ url: r.url(), body: r.postDataJSON() });
    });
    await signIn(page, 'analyst');
    const ins = await apiGet(`/insights/pincodes?pincode=${samplePincode}`);
    const periods = async () => page.$$eval('table.horizons tbody tr', (trs) => trs.map((tr) => {
      const [from, to] = [...tr.querySelectorAll('time')].map((t) => t.getAttribute('datetime'));
      return { from, to, cells: [...tr.children].map((td) => td.textContent) };
    }));
    const consecutive = (rows) => {
      assert.equal(rows.length, 3);
      assert.equal(rows[0].from, dayAfter(ins.as_of));
      for (const [i, r] of rows.entries()) {
        assert.equal(r.to, dayAfter(r.from, ins.period_days - 1), `period ${i + 1} is ${ins.period_days} days`);
        if (i) assert.equal(r.from, dayAfter(rows[i - 1].to), `period ${i + 1} follows period ${i}`);
        assert.match(r.cells[0], new RegExp(`^${i + 1} periods? ahead`));
      }
    };
    // all products and channels: the predictions added up per horizon
    await goTo(page, `pincode/${samplePincode}`, 'pincode');
    await page.waitForFunction(() => document.querySelectorAll('table.horizons tbody tr').length === 3);
    consecutive(await periods());
    const all = batches.filter((b) => b.url.includes('/predict/demand') && !b.url.includes('rise'));
    assert.equal(all.length, 1, 'one batch request');
    assert.deepEqual([...new Set(all[0].body.map((q) => q.horizon))], [1, 2, 3]);
    assert.equal(all[0].body.length, 3 * ins.products.length * ins.channels.length);
    // one product and channel: intervals and the probability of a rise
    const product = ins.products[0];
    const channel = ins.channels[0];
    batches.length = 0;
    // each choice reloads the panel: wait for the table of that scope
    const words = (x) => x.replace(/_/g, ' ');
    const captionHas = (scope) => page.waitForFunction((sc) =>
      (document.querySelector('table.horizons caption')?.textContent || '').includes(`(${sc})`), scope);
    await page.selectOption('#detail-product', product);
    await captionHas(`${words(product)}, all channels`);
    await page.selectOption('#detail-channel', channel);
    await captionHas(`${words(product)}, ${words(channel)}`);
    assert.match(await page.textContent('table.horizons thead'), /interval/);
    const rows = await periods();
    consecutive(rows);
    const demand = batches.filter((b) => b.url.endsWith('/predict/demand?explain=true')).at(-1);
    const rise = batches.filter((b) => b.url.endsWith('/predict/demand-rise')).at(-1);
    const q = [1, 2, 3].map((horizon) => ({ pincode: samplePincode, product, channel, horizon }));
    assert.deepEqual(demand.body, q, 'the three horizons in one request');
    assert.deepEqual(rise.body, q);
    const answers = await apiPost('/predict/demand', q);
    const rises = await apiPost('/predict/demand-rise', q);
    for (const [i, a] of answers.entries()) {
      assert.deepEqual({ from: rows[i].from, to: rows[i].to }, a.period, `period of horizon ${i + 1}`);
      assert.equal(rows[i].cells[2], a.predicted_demand.toFixed(Math.abs(a.predicted_demand) < 10 ? 2 : 1));
      assert.equal(rows[i].cells[3], `${a.interval.low}–${a.interval.high}`);
      assert.equal(rows[i].cells[4], `${(a.confidence * 100).toFixed(0)}%`);
      assert.equal(rows[i].cells[5], `${(rises[i].probability * 100).toFixed(0)}%`);
    }
    await whenDrawn(page, 'main [role="img"]');
    await page.screenshot({ path: artifact('panel-pincode-horizons.png'), fullPage: true });
    await accessibility(page, 'pincode-horizons');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('the region detail shows three horizons, each the region\'s total for its period', async () => {
    const { page, context, problems } = await open();
    await signIn(page, 'viewer');
    await goTo(page, `region/${sampleRegion}`, 'region');
    await page.waitForFunction(() => document.querySelectorAll('table.horizons tbody tr').length === 3);
    const rows = await page.$$eval('table.horizons tbody tr', (trs) => trs.map((tr) => {
      const [from, to] = [...tr.querySelectorAll('time')].map((t) => t.getAttribute('datetime'));
      return { from, to, cells: [...tr.children].map((td) => td.textContent) };
    }));
    for (const [i, r] of rows.entries()) {
      const ins = await apiGet(`/insights/regions?region=${sampleRegion}&horizon=${i + 1}`);
      assert.equal(ins.horizon, i + 1);
      assert.deepEqual({ from: r.from, to: r.to }, ins.period, `period of horizon ${i + 1}`);
      if (i) assert.equal(r.from, dayAfter(rows[i - 1].to), `period ${i + 1} follows period ${i}`);
      const v = ins.regions[0].predicted_demand;
      const d = Math.abs(v) < 10 ? 2 : 1;
      assert.equal(r.cells[2], new Intl.NumberFormat('en-IN', { minimumFractionDigits: d, maximumFractionDigits: d }).format(v));
      assert.equal(r.cells.at(-1), `${(ins.regions[0].rise_probability * 100).toFixed(0)}%`);
    }
    await whenDrawn(page, 'main [role="img"]');
    await accessibility(page, 'region-horizons');
    assert.deepEqual(problems, []);
    await context.close();
  });
});

describe('roles', () => {
  test('an analyst sees no admin action', async () => {
    const { page, context, problems } = await open();
    await signIn(page, 'analyst');
    const nav = await page.$$eval('header nav a', (a) => a.map((x) => x.textContent));
    assert.deepEqual(nav, ['Overview', 'Map', 'Rankings', 'Customer offer']);
    await page.goto(`${srv.url}/#/data`); // not offered: the overview instead
    await page.waitForFunction(() => document.querySelector('main')?.dataset.ready === 'overview');
    for (const path of ['overview', 'map', 'rankings', `pincode/${samplePincode}`, 'offer']) {
      await show(page, path);
      assert.equal(await page.locator('#upload-file, #train-button, button[data-version]').count(), 0);
    }
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a viewer gets only what viewers may', async () => {
    const { page, context, problems } = await open();
    await signIn(page, 'viewer');
    const nav = await page.$$eval('header nav a', (a) => a.map((x) => x.textContent));
    assert.deepEqual(nav, ['Overview', 'Map', 'Rankings']);
    await page.goto(`${srv.url}/#/offer`);
    await page.waitForFunction(() => document.querySelector('main')?.dataset.ready === 'overview');
    await show(page, `pincode/${samplePincode}`, 'pincode');
    await page.selectOption('#detail-product', { index: 1 });
    await page.waitForFunction(() => document.querySelector('#detail-product')?.selectedIndex === 1);
    await page.selectOption('#detail-channel', { index: 1 });
    await page.waitForFunction(() => /analyst key/.test(document.querySelector('main')?.textContent || ''));
    assert.equal(await page.locator('.drivers').count(), 0);
    // the next period only: further horizons come from the predictions
    assert.equal(await page.locator('table.horizons tbody tr').count(), 1);
    assert.match(await page.textContent('main'), /Forecasts 2 and 3 periods ahead come from the predictions/);
    await show(page, `region/${sampleRegion}`, 'region');
    await show(page, 'rankings');
    // nothing was asked that the role may not: no 403 (problems would hold it)
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('signing out forgets the key; a bad key is refused', async () => {
    const { page, context, problems } = await open({ expect: [{ status: 401, path: '/whoami' }] });
    await signIn(page, 'viewer');
    assert.ok(!page.url().includes(keys.viewer), 'the key left the address bar');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('gromo.key')), keys.viewer);
    await page.click('#sign-out');
    await page.waitForSelector('form.sign-in');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('gromo.key')), null);
    await page.reload();
    await page.waitForSelector('form.sign-in');
    await page.screenshot({ path: artifact('panel-sign-in.png') });
    await accessibility(page, 'sign-in');
    // a wrong key, typed in
    await page.fill('#key', 'gromo_not_a_key');
    await page.press('#key', 'Enter');
    await page.waitForSelector('#sign-in-status .status.error');
    // the right one, by keyboard
    await page.fill('#key', keys.viewer);
    await page.press('#key', 'Enter');
    await page.waitForFunction(() => document.querySelector('main')?.dataset.ready === 'overview');
    assert.deepEqual(problems, []);
    await context.close();
  });
});

describe('keyboard', () => {
  test('skip link, navigation and forms work by keyboard alone', async () => {
    const { page, context, problems } = await open();
    await signIn(page, 'analyst');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
    // to the Rankings link: from the top of the page
    await page.evaluate(() => document.activeElement.blur());
    let found = false;
    for (let i = 0; i < 12 && !found; i++) {
      await page.keyboard.press('Tab');
      found = await page.evaluate(() => document.activeElement.textContent === 'Rankings');
    }
    assert.ok(found, 'Rankings is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('main')?.dataset.ready === 'rankings');
    await page.focus('#rank-sort');
    await page.keyboard.press('ArrowDown'); // growth
    await page.waitForFunction(() => /growth/.test(document.querySelector('table.ranking caption')?.textContent || ''));
    assert.equal(await page.evaluate(() => document.activeElement.id), 'rank-sort', 'focus stays on the control');
    // a pincode link by keyboard
    await page.focus('table.ranking tbody a');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('main')?.dataset.ready === 'pincode');
    // the offer form, typed and submitted with Enter
    await show(page, 'offer');
    await page.focus('#customer_age');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('44');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('90000');
    await page.keyboard.press('Enter');
    await page.waitForSelector('.top-product');
    assert.deepEqual(problems, []);
    await context.close();
  });
});

describe('API docs', () => {
  test('Swagger UI lists every operation and tries one with a key', async () => {
    const { page, context, problems } = await open();
    await page.goto(`${srv.url}/docs`);
    await page.waitForSelector('.opblock');
    const doc = await (await fetch(`${srv.url}/openapi.json`)).json();
    const ops = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    await page.waitForFunction((n) => document.querySelectorAll('.opblock').length === n, ops);
    await page.screenshot({ path: artifact('docs.png') });
    // Authorize with an API key, then "Try it out" on GET /whoami
    await page.click('button.authorize');
    await page.fill('.auth-container input[type="text"], .auth-container input[type="password"]', keys.analyst);
    await page.click('.auth-container button.authorize');
    await page.click('button.close-modal');
    const op = page.locator('#operations-system-get_whoami');
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op.locator('button.execute').click();
    const cell = op.locator('.live-responses-table tbody .response-col_status').first();
    await cell.waitFor();
    const status = await cell.textContent();
    assert.equal(status.trim(), '200');
    assert.match(await op.locator('.live-responses-table').textContent(), /"role": "analyst"/);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
