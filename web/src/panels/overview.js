// Overview: what the store holds, which model version serves, how each
// model did on the holdout beside its baselines (a warning when one lost),
// and the demand model's backtest 1 to 3 periods ahead.
import { api } from '../api.js';
import { chart, palette } from '../charts.js';
import { fmt, h, loading, replace, status } from '../dom.js';
import { backtestSection } from './backtest.js';

/* Per model: the figure that decided its promotion, and whether less is
 * better; then a second figure worth seeing. */
const MODELS = [
  { key: 'demand', title: 'Demand', metric: 'poisson_deviance', label: 'mean Poisson deviance', lower: true,
    extra: ['mae', 'MAE'] },
  { key: 'demand_rise', title: 'Demand rise', metric: 'log_loss', label: 'log loss', lower: true,
    extra: ['roc_auc', 'ROC AUC'] },
  { key: 'top_product', title: 'Top product', metric: 'log_loss', label: 'log loss', lower: true,
    extra: ['accuracy', 'accuracy'] },
];

function tile(label, value, note) {
  return h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, label),
    h('div', { class: 'tile-value' }, value), note ? h('div', { class: 'tile-note' }, note) : null);
}

function modelCard(spec, m) {
  const card = h('section', { class: 'card model-card', 'aria-labelledby': `m-${spec.key}` },
    h('h3', { id: `m-${spec.key}` }, spec.title, ' ',
      h('span', { class: m.promoted ? 'badge ok' : 'badge warn' }, m.promoted ? 'model serves' : 'baseline serves')));
  const names = ['model', ...Object.keys(m.baselines || {})];
  const values = [m.holdout?.[spec.metric], ...Object.values(m.baselines || {}).map((b) => b[spec.metric])];
  const box = h('div', { class: 'chart small' });
  card.append(box, h('p', { class: 'reason' }, m.reason || ''));
  const extra = m.holdout?.[spec.extra[0]];
  if (extra !== undefined) card.append(h('p', { class: 'muted' }, `${spec.extra[1]} on the holdout: ${fmt.num(extra, 3)}`));
  requestAnimationFrame(() => chart(box, `${spec.title}: holdout ${spec.label}, model beside baselines (${spec.lower ? 'lower' : 'higher'} is better)`, {
    grid: { left: 150, right: 40, top: 10, bottom: 30 },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    xAxis: { type: 'value', name: spec.label, nameLocation: 'middle', nameGap: 22 },
    yAxis: { type: 'category', data: names.map(fmt.words), inverse: true },
    series: [{
      type: 'bar',
      data: values.map((v, i) => ({ value: v === undefined || v === null ? null : Number(v.toFixed(4)),
        itemStyle: { color: i === 0 ? palette[0] : '#9aa7b1' } })),
      label: { show: true, position: 'right', formatter: (p) => (p.value === null ? '' : fmt.num(p.value, 3)) },
    }],
  }));
  return card;
}

export async function render(main, ctx) {
  const body = h('div', { class: 'panel overview' }, h('h1', {}, 'Overview'), loading());
  main.append(body);
  // The store's counts take longest on a large store: the model's part is
  // drawn first, the counts and the monthly chart when they come.
  const summaryP = api('/sales/summary?by=month');
  summaryP.catch(() => {}); // handled below
  const models = await api('/models');
  if (!ctx.current()) return;
  const records = h('div', { class: 'tile-value' }, '…');
  const pincodes = h('div', { class: 'tile-value' }, '…');
  const dates = h('div', { class: 'tile-value' }, '…');
  const tiles = h('div', { class: 'tiles' },
    h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, 'Sales records'), records),
    h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, 'Pincodes with sales'), pincodes),
    h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, 'Dates'), dates),
    tile('Serving model', models.version ? `version ${models.version}` : 'none yet',
      models.version ? `trained ${String(models.trained_at).slice(0, 16).replace('T', ' ')} UTC · as of ${models.data?.as_of}` : 'train it under Data and models'));
  const parts = [h('h1', {}, 'Overview'), tiles];
  const lost = MODELS.filter((m) => models.models?.[m.key] && !models.models[m.key].promoted);
  if (lost.length)
    parts.push(status('warning', `${lost.map((m) => m.title).join(' and ')} lost to ${lost.length > 1 ? 'their baselines' : 'its baseline'} on the holdout: ` +
      'the baseline answers in its place until a retrained model beats it.'));
  let backtest = null;
  const monthly = h('div', { class: 'chart wide' });
  parts.push(h('section', { class: 'card', 'aria-labelledby': 'monthly-h' }, h('h2', { id: 'monthly-h' }, 'Sales by month'), monthly));
  if (models.version) {
    parts.push(h('h2', {}, `How the models did on the holdout (the last ${models.data?.period_days || 30} days, held out)`));
    parts.push(h('div', { class: 'cards' }, MODELS.filter((m) => models.models?.[m.key]).map((m) => modelCard(m, models.models[m.key]))));
    const r = models.regions;
    if (r) parts.push(h('p', { class: 'muted' }, `${fmt.int(r.regions)} regions of ${fmt.int(r.pincodes)} pincodes (silhouette ${fmt.num(r.silhouette, 2)}, median ${fmt.int(r.median_km_to_centroid)} km to a region's centre).`));
    backtest = backtestSection(models);
    parts.push(backtest.node);
  } else {
    parts.push(status('info', 'No model is trained yet: predictions, the map and rankings appear once one is.'));
  }
  replace(body, ...parts);
  if (backtest) backtest.draw();
  const summary = await summaryP;
  if (!ctx.current()) return;
  replace(records, fmt.int(summary.total_sales));
  replace(pincodes, fmt.int(summary.pincodes_with_sales));
  replace(dates, summary.first_date ? `${summary.first_date} – ${summary.last_date}` : 'no sales yet');
  const groups = summary.groups || [];
  chart(monthly, 'Sales by month', {
    grid: { left: 60, right: 20, top: 20, bottom: 40 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', data: groups.map((g) => g.key) },
    yAxis: { type: 'value', name: 'sales' },
    series: [{ type: 'bar', name: 'sales', data: groups.map((g) => g.sales) }],
  });
}
