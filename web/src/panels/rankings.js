// Rankings: the top pincodes and regions by predicted demand, by predicted
// growth and by probability of a rise, per product and channel; the whole
// ranking as CSV.
import { api, download } from '../api.js';
import { chart, disposeChart } from '../charts.js';
import { fmt, h, loading, replace, select, status, table } from '../dom.js';

const state = { what: 'pincodes', sort: 'demand', product: '', channel: '', limit: '25' };

const SORTS = [['demand', 'Predicted demand'], ['growth', 'Predicted growth'], ['rise', 'Probability of a rise']];

export async function render(main, ctx) {
  const panel = h('div', { class: 'panel rankings' }, h('h1', {}, 'Rankings'));
  const controls = h('form', { class: 'controls', 'aria-label': 'Ranking options', onsubmit: (e) => e.preventDefault() });
  const out = h('div', { 'aria-live': 'polite' }, loading());
  panel.append(controls, out);
  main.append(panel);
  let meta = null;
  let drawn = null;

  function query(extra) {
    const q = new URLSearchParams({ sort: state.sort, limit: state.limit, ...extra });
    if (state.product) q.set('product', state.product);
    if (state.channel) q.set('channel', state.channel);
    return `/insights/${state.what}?${q}`;
  }

  function drawControls() {
    const products = [['', 'All products'], ...(meta?.products || []).map((p) => [p, fmt.words(p)])];
    const channels = [['', 'All channels'], ...(meta?.channels || []).map((p) => [p, fmt.words(p)])];
    const on = (k) => (v) => { state[k] = v; load(k); };
    replace(controls,
      h('fieldset', { class: 'tabs' }, h('legend', {}, 'Rank'),
        ['pincodes', 'regions'].map((w) => h('label', { class: 'tab' },
          h('input', { type: 'radio', name: 'what', value: w, checked: state.what === w,
            onchange: () => { state.what = w; load('what'); } }), w === 'pincodes' ? 'Pincodes' : 'Regions'))),
      select('rank-sort', 'By', SORTS, state.sort, on('sort')),
      select('rank-product', 'Product', products, state.product, on('product')),
      select('rank-channel', 'Channel', channels, state.channel, on('channel')),
      select('rank-limit', 'Show', [['10', 'top 10'], ['25', 'top 25'], ['100', 'top 100'], ['500', 'top 500']], state.limit, on('limit')),
      h('button', { type: 'button', class: 'secondary', id: 'rank-csv', onclick: csv }, 'Download CSV (all)'));
  }

  async function csv() {
    try {
      await download(query({ limit: '100000', format: 'csv' }), `gromo-${state.what}.csv`);
    } catch (e) {
      out.prepend(status('error', e.message));
    }
  }

  async function load(changed) {
    replace(out, loading());
    let data;
    try {
      data = await api(query());
    } catch (e) {
      if (!ctx.current()) return;
      replace(out, status('error', e.status === 503 ? 'No model is trained yet: rankings come from its predictions.' : e.message));
      return;
    }
    if (!ctx.current()) return;
    meta = data;
    drawControls();
    if (changed) document.getElementById(changed === 'what' ? `rank-sort` : `rank-${changed}`)?.focus();
    const sortName = SORTS.find(([k]) => k === state.sort)[1].toLowerCase();
    const scope = `${state.product ? fmt.words(state.product) : 'all products'}, ${state.channel ? fmt.words(state.channel) : 'all channels'}`;
    const caption = `Top ${data.count} of ${fmt.int(data.total)} ${state.what} by ${sortName} (${scope}; next ${data.period_days} days after ${data.as_of}, model version ${data.model_version})`;
    const figures = [
      ['Last 30 days', (r) => fmt.int(r.last_period_demand), { num: true }],
      ['Predicted', (r) => fmt.num(r.predicted_demand, 1), { num: true }],
      ['Growth', (r) => fmt.signed(r.growth, 1), { num: true }],
      ['Rise', (r) => fmt.pct(r.rise_probability), { num: true }],
    ];
    const cols = state.what === 'pincodes'
      ? [['#', (r) => r.rank, { num: true }],
        ['Pincode', (r) => h('a', { href: `#/pincode/${r.pincode}` }, r.pincode)],
        ['District', (r) => r.district || '–'],
        ['State', (r) => r.state || '–'],
        ['Region', (r) => (r.region_id ? h('a', { href: `#/region/${r.region_id}` }, String(r.region_id)) : '–')],
        ...figures]
      : [['#', (r) => r.rank, { num: true }],
        ['Region', (r) => h('a', { href: `#/region/${r.region_id}` }, `Region ${r.region_id}`)],
        ['Pincodes', (r) => fmt.int(r.pincode_count), { num: true }],
        ...figures];
    const rows = data[state.what];
    const top = rows.slice(0, 10);
    const box = h('div', { class: 'chart small ranking-chart' });
    const value = { demand: (r) => r.predicted_demand, growth: (r) => r.growth, rise: (r) => r.rise_probability }[state.sort];
    replace(out, h('section', { class: 'card', 'aria-label': 'The top ten' }, box),
      table(caption, cols, rows, { class: 'ranking' }),
      h('p', { class: 'muted' }, 'Rise: for one product and channel, the demand-rise model\'s probability; over several, the probability that their total rises. Growth: predicted minus last period.'));
    disposeChart(drawn);
    const name = (r) => (state.what === 'pincodes' ? `${r.pincode} ${r.district || ''}` : `Region ${r.region_id}`);
    drawn = chart(box, `The top ${top.length} ${state.what} by ${sortName}`, {
      grid: { left: 170, right: 60, top: 10, bottom: 25 },
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      xAxis: { type: 'value', axisLabel: { formatter: (v) => (state.sort === 'rise' ? fmt.pct(v) : String(v)) } },
      yAxis: { type: 'category', data: top.map(name), inverse: true },
      series: [{ type: 'bar', data: top.map((r) => Number(value(r).toFixed(4))),
        label: { show: true, position: 'right', formatter: (p) => (state.sort === 'rise' ? fmt.pct(p.value) : fmt.num(p.value, 1)) } }],
    });
  }

  drawControls();
  await load(null);
}
