// What the web tests share: a store with sample sales and trained models
// (made once, then reused while the gromo executable stays the same), a
// real `gromo serve` on a free port, and keys of each role.
//
//   GROMO_BIN       the executable under test (default ../gromo)
//   GROMO_WEB_ROOT  the built dashboard (default ../build/web)
//   WEB_TEST_DIR    where stores, logs and screenshots go (default
//                   ../build/web-test)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');
export const gromo = resolve(process.env.GROMO_BIN || join(repo, 'gromo'));
export const webRoot = resolve(process.env.GROMO_WEB_ROOT || join(repo, 'build', 'web'));
export const testDir = resolve(process.env.WEB_TEST_DIR || join(repo, 'build', 'web-test'));

// The sample store: always explicit dates, so every run sees the same data.
// The generated sales are spread thin (a few a month in the busiest cells),
// so `dense` adds a block of busier cells (denseSales): the backtest then
// has cells expecting 1 or more sales a period, whose interval coverage the
// overview shows.
export const SAMPLE = { count: 30000, seed: 7, end: '2026-06-30', rounds: 60, dense: 1 };

/* A deterministic random number generator (mulberry32). */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function poisson(rnd, mean) {
  const limit = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rnd();
  } while (p > limit);
  return k - 1;
}

/* CSV of about 3,000 sales in six city-centre pincodes over the 24 months
 * up to SAMPLE.end: each pincode x product x channel sells a few times a
 * month (Poisson), with a yearly season and a slow rise. */
export function denseSales() {
  const rnd = random(SAMPLE.seed);
  const pincodes = [['400001', 1.6], ['110001', 1.3], ['560001', 1.0], ['600001', 0.8], ['700001', 0.7], ['500001', 0.6]];
  const products = [['loan', 1.5], ['credit_card', 1.0], ['insurance', 0.6]];
  const channels = [['online', 1.2], ['offline', 0.8]];
  const [endY, endM] = SAMPLE.end.split('-').map(Number);
  let csv = 'date,pincode,product,channel,customer_age,customer_income\n';
  for (let back = 23; back >= 0; back--) {
    const m0 = endY * 12 + endM - 1 - back; // months since year 0, 0-based month
    const y = Math.floor(m0 / 12);
    const m = (m0 % 12) + 1;
    const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
    const season = 1 + 0.3 * Math.sin((2 * Math.PI * m) / 12);
    const trend = 1 + 0.01 * (23 - back);
    for (const [pin, a] of pincodes) for (const [product, b] of products) for (const [channel, c] of channels) {
      const n = poisson(rnd, 3 * a * b * c * season * trend);
      for (let i = 0; i < n; i++) {
        const day = String(1 + Math.floor(rnd() * days)).padStart(2, '0');
        const age = 22 + Math.floor(rnd() * 50);
        const income = 20000 + Math.floor(rnd() * 150000);
        csv += `${y}-${String(m).padStart(2, '0')}-${day},${pin},${product},${channel},${age},${income}\n`;
      }
    }
  }
  return csv;
}

export function cli(args, opts = {}) {
  return execFileSync(gromo, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/* A store with sample sales and a trained model version, made once for
 * this executable and these settings; tests copy it so none sees another's
 * changes. Returns the path of the copy. */
export function sampleStore(name) {
  mkdirSync(testDir, { recursive: true });
  const base = join(testDir, 'sample.db');
  const st = statSync(gromo);
  const stamp = JSON.stringify({ ...SAMPLE, bin: gromo, size: st.size, mtime: st.mtimeMs });
  const stampFile = join(testDir, 'sample.stamp');
  if (!existsSync(base) || !existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== stamp) {
    for (const f of [base, base + '-wal', base + '-shm', stampFile]) rmSync(f, { force: true });
    cli(['generate', String(SAMPLE.count), '--seed', String(SAMPLE.seed), '--end', SAMPLE.end,
      '--db', base, '-q']);
    if (SAMPLE.dense) {
      const csv = join(testDir, 'sample-dense.csv');
      writeFileSync(csv, denseSales());
      cli(['import', csv, '--db', base, '-q']);
    }
    cli(['train', '--db', base, '--rounds', String(SAMPLE.rounds), '-q']);
    writeFileSync(stampFile, stamp);
  }
  const copy = join(testDir, `${name}.db`);
  for (const f of [copy, copy + '-wal', copy + '-shm']) rmSync(f, { force: true });
  for (const ext of ['', '-wal', '-shm'])
    if (existsSync(base + ext)) writeFileSync(copy + ext, readFileSync(base + ext));
  return copy;
}

export function makeKey(db, role, name) {
  const out = cli(['keys', 'create', '--role', role, '--name', name, '--db', db]).trim().split('\n');
  const key = out[out.length - 1];
  if (!key.startsWith('gromo_')) throw new Error(`no key in: ${out.join(' / ')}`);
  return key;
}

/* Starts `gromo serve --port 0` on db; resolves to {url, stop(), log}. */
export async function startServer(db, extra = []) {
  const log = db.replace(/\.db$/, '') + '.log';
  rmSync(log, { force: true });
  const child = spawn(gromo, ['serve', '--db', db, '--port', '0', '--log-file', log,
    '--web-root', webRoot, ...extra], { stdio: ['ignore', 'ignore', 'inherit'] });
  const t0 = Date.now();
  let port = 0;
  while (!port) {
    if (child.exitCode !== null) throw new Error(`gromo serve exited with ${child.exitCode}`);
    if (Date.now() - t0 > 20000) { child.kill('SIGKILL'); throw new Error('gromo serve did not start'); }
    await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(log)) continue;
    const m = readFileSync(log, 'utf8').match(/"event":"listening".*?"port":(\d+)/);
    if (m) port = Number(m[1]);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const done = new Promise((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      return done;
    },
  };
}

export function artifact(name) {
  const dir = join(testDir, 'artifacts');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
