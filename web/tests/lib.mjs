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
export const SAMPLE = { count: 30000, seed: 7, end: '2026-06-30', rounds: 60 };

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
