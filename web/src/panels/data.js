// Data and models (admin): upload a file of sales with a progress bar and
// the rejected rows as a table; start training and watch its stages; roll
// the serving model back to an earlier version.
import { api, upload } from '../api.js';
import { fmt, h, replace, status, table } from '../dom.js';

function progress(id, label) {
  const bar = h('progress', { id, max: 1, value: 0, 'aria-label': label });
  const text = h('span', { class: 'progress-text', 'aria-live': 'polite' }, '');
  return { el: h('div', { class: 'progress' }, bar, text), bar, text };
}

function uploadSection(ctx) {
  const input = h('input', { id: 'upload-file', type: 'file', accept: '.csv,.xlsx,.xls,.json,.ndjson,text/csv,application/json' });
  const atomic = h('input', { id: 'upload-atomic', type: 'checkbox' });
  const p = progress('upload-progress', 'Upload progress');
  const out = h('div', { id: 'upload-result' });
  const button = h('button', { type: 'submit', id: 'upload-button' }, 'Upload');
  const form = h('form', { class: 'upload', onsubmit: async (e) => {
    e.preventDefault();
    const file = input.files[0];
    if (!file) {
      replace(out, status('error', 'Choose a file first.'));
      return;
    }
    button.disabled = true;
    replace(out);
    p.bar.value = 0;
    p.text.textContent = `sending ${file.name}…`;
    try {
      const r = await upload(`/sales/upload${atomic.checked ? '?atomic=true' : ''}`, file, (f) => {
        p.bar.value = f;
        p.text.textContent = f < 1 ? `sent ${fmt.pct(f)}` : 'sent; the server is storing it…';
      });
      p.bar.value = 1;
      p.text.textContent = 'done';
      const parts = [status('ok', `Stored ${fmt.int(r.inserted_count)} of ${fmt.int(r.records)} records (${r.format}); ` +
        `${fmt.int(r.duplicate_count)} duplicates skipped, ${fmt.int(r.rejected_count)} rejected.`)];
      if (r.invalid_records && r.invalid_records.length) parts.push(errorsTable(r.invalid_records, r.rejected_count));
      replace(out, ...parts);
    } catch (err) {
      p.text.textContent = 'failed';
      const parts = [status('error', err.message)];
      if (err.details && err.details.length) parts.push(errorsTable(err.details, err.details.length));
      replace(out, ...parts);
    } finally {
      button.disabled = false;
    }
  } },
  h('div', { class: 'field' }, h('label', { for: 'upload-file' }, 'File of sales (CSV, XLSX, XLS, JSON or NDJSON)'), input),
  h('div', { class: 'field check' }, atomic, h('label', { for: 'upload-atomic' }, 'All or nothing: store none if any row is invalid')),
  button, p.el);
  return h('section', { class: 'card', 'aria-labelledby': 'upload-h' },
    h('h2', { id: 'upload-h' }, 'Upload sales'), form, out);
}

function errorsTable(rows, total) {
  return table(`Rejected rows (${rows.length < total ? `the first ${rows.length} of ${fmt.int(total)}` : fmt.int(total)})`, [
    ['Row', (r) => (r.row !== undefined ? r.row : r.index !== undefined ? `#${r.index}` : '–'), { num: true }],
    ['Field', (r) => r.field || '–'],
    ['Problem', (r) => r.problem || '–'],
  ], rows.slice(0, 200), { class: 'errors' });
}

function trainSection(ctx, refresh) {
  const p = progress('train-progress', 'Training progress');
  const stage = h('p', { id: 'train-stage', class: 'stage', 'aria-live': 'polite' }, 'No training started from this page.');
  const out = h('div', { id: 'train-result' });
  const rounds = h('input', { id: 'train-rounds', type: 'number', min: 1, max: 2000, step: 1, placeholder: '120', inputmode: 'numeric' });
  const button = h('button', { type: 'button', id: 'train-button', onclick: start }, 'Start training');
  async function start() {
    button.disabled = true;
    replace(out);
    try {
      const n = rounds.value.trim();
      const job = await api(`/models/train${n ? `?rounds=${encodeURIComponent(n)}` : ''}`, { method: 'POST' });
      if (!job.started) replace(out, status('info', `A training run was already in progress (job ${job.job_id}): watching it.`));
      await watch(job.job_id);
    } catch (e) {
      replace(out, status('error', e.message));
    } finally {
      button.disabled = false;
    }
  }
  async function watch(id) {
    for (;;) {
      const job = await api(`/models/train/${id}`);
      p.bar.value = job.progress;
      p.text.textContent = fmt.pct(job.progress);
      stage.textContent = `Job ${job.job_id}: ${job.status}, ${job.stage} (${fmt.num(job.duration_ms / 1000, 1)} s)`;
      if (job.status === 'succeeded') {
        const s = job.summary || {};
        const lost = Object.entries(s.models || {}).filter(([, m]) => !m.promoted).map(([k]) => fmt.words(k));
        replace(out, status(lost.length ? 'warning' : 'ok', `Model version ${s.version} trained in ${fmt.num(job.duration_ms / 1000, 1)} s and serves now.` +
          (lost.length ? ` ${lost.join(', ')} lost to ${lost.length > 1 ? 'their baselines' : 'its baseline'}, which answer${lost.length > 1 ? '' : 's'} instead.` : '')));
        refresh();
        return;
      }
      if (job.status === 'failed') {
        replace(out, status('error', `Training failed: ${job.error ? job.error.message : 'unknown error'}`));
        return;
      }
      if (!ctx.current()) return;
      await new Promise((r) => setTimeout(r, 700));
    }
  }
  return h('section', { class: 'card', 'aria-labelledby': 'train-h' },
    h('h2', { id: 'train-h' }, 'Train the models'),
    h('p', {}, 'Retrains on every stored sale in the background; the current version keeps answering until the new one is swapped in.'),
    h('div', { class: 'field' }, h('label', { for: 'train-rounds' }, 'Boosting rounds per model (empty: 120)'), rounds),
    button, p.el, stage, out);
}

function versionsSection(ctx) {
  const out = h('div', {}, h('p', { class: 'loading', role: 'status' }, 'Loading versions…'));
  const note = h('div', { id: 'versions-note', 'aria-live': 'polite' });
  async function load() {
    const m = await api('/models');
    if (!ctx.current()) return;
    if (!m.versions.length) {
      replace(out, h('p', { class: 'muted' }, 'No model version yet.'));
      return;
    }
    replace(out, table('Model versions (newest first)', [
      ['Version', (v) => String(v.version), { num: true }],
      ['Trained (UTC)', (v) => String(v.trained_at).slice(0, 19).replace('T', ' ')],
      ['Sales trained on', (v) => `${v.data_from || '–'} – ${v.data_to || '–'}`],
      ['Promoted', (v) => Object.entries(v.promoted || {}).map(([k, ok]) => `${fmt.words(k)} ${ok ? '✓' : '✗'}`).join(', ')],
      ['Serving', (v) => (v.serving ? h('strong', {}, 'serving')
        : h('button', { type: 'button', class: 'secondary', 'data-version': v.version, onclick: () => rollback(v.version) },
          `Roll back to ${v.version}`))],
    ], m.versions, { class: 'versions' }));
  }
  async function rollback(version) {
    if (!window.confirm(`Make model version ${version} the serving one?`)) return;
    try {
      const r = await api('/models/rollback', { method: 'POST', body: { version } });
      replace(note, status('ok', `Model version ${r.serving} serves now.`));
      await load();
    } catch (e) {
      replace(note, status('error', e.message));
    }
  }
  return { el: h('section', { class: 'card', 'aria-labelledby': 'versions-h' }, h('h2', { id: 'versions-h' }, 'Model versions'), note, out), load };
}

export async function render(main, ctx) {
  const versions = versionsSection(ctx);
  const panel = h('div', { class: 'panel data' }, h('h1', {}, 'Data and models'),
    uploadSection(ctx), trainSection(ctx, () => versions.load().catch(() => {})), versions.el);
  main.append(panel);
  await versions.load();
}
