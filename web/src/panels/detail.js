// A pincode's or a region's detail: monthly history with the forecast for
// the next 1, 2 and 3 periods (a pincode's with the interval for one
// product and channel), the product and channel mix, and what drove the
// forecast, in plain words.
import { api } from '../api.js';
import { chart } from '../charts.js';
import { fmt, h, loading, replace, select, status, table } from '../dom.js';
import { horizonName } from './backtest.js';

/* The horizons a pincode's forecast is shown for (POST /predict/demand). */
export const HORIZONS = [1, 2, 3];

const state = { product: '', channel: '' };

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
  'September', 'October', 'November', 'December'];

/* "Demand in the last period (3) raised it strongly." names: the model's
 * products and channels, by index, for the features that hold one. */
export function driverSentence(d, names = {}) {
  let value = d.value === null || d.value === undefined ? 'unknown'
    : Number.isInteger(d.value) ? String(d.value) : d.value.toFixed(2);
  if (d.value !== null && d.value !== undefined) {
    if (d.feature === 'product' && names.products?.[d.value]) value = fmt.words(names.products[d.value]);
    if (d.feature === 'channel' && names.channels?.[d.value]) value = fmt.words(names.channels[d.value]);
    if (d.feature === 'month of the next period' && MONTHS[d.value - 1]) value = MONTHS[d.value - 1];
  }
  const size = Math.abs(d.contribution);
  const how = size > 0.5 ? ' strongly' : size < 0.1 ? ' slightly' : '';
  const verb = d.contribution > 0 ? 'raised' : 'lowered';
  const name = d.feature.charAt(0).toUpperCase() + d.feature.slice(1);
  return `${name} (${value}) ${verb} it${how}.`;
}

function driversBlock(answer, what, names) {
  if (!answer || !answer.drivers || !answer.drivers.length)
    return h('p', { class: 'muted' }, answer && answer.source && answer.source !== 'model'
      ? `The ${fmt.words(answer.source)} answered (the model lost to it on the holdout), so there are no drivers.`
      : 'No drivers for this answer.');
  return h('div', { class: 'drivers' },
    h('p', {}, `What moved ${what} most:`),
    h('ul', {}, answer.drivers.map((d) => h('li', { class: d.contribution > 0 ? 'up' : 'down' },
      h('span', { class: 'arrow', 'aria-hidden': 'true' }, d.contribution > 0 ? '▲' : '▼'), ' ', driverSentence(d, names)))));
}

/* The months of a summary, padded with empty months to the as-of date's
 * (the summary runs from the scope's first sale to its last). */
function toAsOf(groups, asOf) {
  const end = asOf.slice(0, 7);
  const out = [...groups];
  let last = out.length ? out[out.length - 1].key : end;
  while (last < end) {
    let [y, m] = last.split('-').map(Number);
    m += 1;
    if (m > 12) { m = 1; y += 1; }
    last = `${y}-${String(m).padStart(2, '0')}`;
    out.push({ key: last, sales: 0 });
  }
  return out;
}

/* '2026-06-30' plus n days, as an ISO date. */
export function addDays(iso, n) {
  const [y, m, d] = iso.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/* The period of horizon hz after the as-of date (docs/api.md: days
 * T + (h-1)·P + 1 to T + h·P), for answers that do not carry it. */
export function periodOf(asOf, hz, periodDays) {
  return { from: addDays(asOf, (hz - 1) * periodDays + 1), to: addDays(asOf, hz * periodDays) };
}

/* '1 Jul 2026' and '30 Jul 2026' -> '1–30 Jul', across months '31 Jul–29 Aug'. */
function periodShort(p) {
  const [d1, m1] = fmt.date(p.from).split(' ');
  const [d2, m2] = fmt.date(p.to).split(' ');
  return m1 === m2 ? `${d1}–${d2} ${m2}` : `${d1} ${m1}–${d2} ${m2}`;
}

/* History (monthly sales) and the forecast of each horizon, with its
 * interval when there is one. forecasts: [{horizon, period, value, low,
 * high, level}]. */
function historyChart(box, label, monthly, forecasts, asOf, periodDays) {
  const groups = toAsOf(monthly, asOf);
  const months = groups.map((g) => g.key);
  const cats = [...months, ...forecasts.map((f) => periodShort(f.period))];
  const n = months.length;
  const last = groups[n - 1]?.sales ?? 0;
  const hist = [...groups.map((g) => g.sales), ...forecasts.map(() => null)];
  const at = (i, f) => (i === n - 1 ? last : i >= n ? f(forecasts[i - n]) : null);
  const fc = cats.map((_, i) => at(i, (f) => Number(f.value.toFixed(2))));
  const series = [
    { name: 'sales', type: 'line', data: hist, symbolSize: 5 },
    { name: 'forecast', type: 'line', data: fc, lineStyle: { type: 'dashed', width: 2 }, symbolSize: 9, itemStyle: { color: '#d9822b' } },
  ];
  if (forecasts.length && forecasts.every((f) => f.low !== undefined)) {
    series.push(
      { name: 'interval low', type: 'line', stack: 'band', symbol: 'none', lineStyle: { opacity: 0 },
        data: cats.map((_, i) => at(i, (f) => f.low)), tooltip: { show: false } },
      { name: `${Math.round(forecasts[0].level * 100)}% interval`, type: 'line', stack: 'band', symbol: 'none', lineStyle: { opacity: 0 },
        areaStyle: { color: 'rgba(217,130,43,0.25)' }, itemStyle: { color: 'rgba(217,130,43,0.6)' },
        data: cats.map((_, i) => (i === n - 1 ? 0 : at(i, (f) => f.high - f.low))) });
  }
  // The months get every few a label; the forecast's periods (named in full
  // in the tooltip and the table) one label under their middle.
  const step = Math.max(1, Math.ceil(cats.length / 8));
  const mid = n + Math.floor((forecasts.length - 1) / 2);
  return chart(box, label, {
    grid: { left: 55, right: 20, top: 30, bottom: 40 },
    legend: { data: series.filter((s) => s.name !== 'interval low').map((s) => s.name), top: 0 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', data: cats, boundaryGap: false,
      axisLabel: { interval: (i) => (i >= n ? i === mid : i % step === 0 && i < mid - 2),
        formatter: (v, i) => (i >= n ? `next ${forecasts.length * periodDays} days` : v) } },
    yAxis: { type: 'value', name: 'sales', min: 0 },
    series,
  });
}

/* Predicted sales: 2 decimals when small, so 0.1 does not read as 0. */
const sales = (v) => fmt.num(v, Math.abs(v) < 10 ? 2 : 1);

/* The forecast of each horizon as a table: its dates, the predicted sales,
 * the interval and confidence (one cell), the probability of a rise. */
function horizonTable(caption, forecasts) {
  const withInterval = forecasts.some((f) => f.low !== undefined);
  const withRise = forecasts.some((f) => f.rise !== undefined && f.rise !== null);
  const cols = [
    ['Forecast', (f) => horizonName(f.horizon)],
    ['Period', (f) => [h('time', { datetime: f.period.from }, fmt.date(f.period.from)), ' – ',
      h('time', { datetime: f.period.to }, fmt.date(f.period.to))]],
    ['Predicted sales', (f) => sales(f.value), { num: true }],
  ];
  if (withInterval) {
    cols.push([`${Math.round(forecasts[0].level * 100)}% interval (sales)`, (f) => (f.low === undefined ? '–' : `${f.low}–${f.high}`), { num: true }]);
    cols.push(['Confidence (within 25%)', (f) => fmt.pct(f.confidence), { num: true }]);
  }
  if (withRise) cols.push(['Probability of more sales than the last period', (f) => fmt.pct(f.rise), { num: true }]);
  return table(caption, cols, forecasts, { class: 'horizons' });
}

function mixChart(box, label, entries) {
  return chart(box, label, {
    grid: { left: 100, right: 40, top: 10, bottom: 25 },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v) => fmt.pct(v, 1) },
    xAxis: { type: 'value', max: 1, axisLabel: { formatter: (v) => fmt.pct(v) } },
    yAxis: { type: 'category', data: entries.map(([k]) => fmt.words(k)), inverse: true },
    series: [{ type: 'bar', data: entries.map(([, v]) => v), label: { show: true, position: 'right', formatter: (p) => fmt.pct(p.value) } }],
  });
}

function shares(groups) {
  return groups.map((g) => [g.key, g.share]);
}

function controls(meta, onchange) {
  const products = [['', 'All products'], ...(meta.products || []).map((p) => [p, fmt.words(p)])];
  const channels = [['', 'All channels'], ...(meta.channels || []).map((p) => [p, fmt.words(p)])];
  return h('form', { class: 'controls', 'aria-label': 'Forecast for', onsubmit: (e) => e.preventDefault() },
    select('detail-product', 'Product', products, state.product, (v) => { state.product = v; onchange('product'); }),
    select('detail-channel', 'Channel', channels, state.channel, (v) => { state.channel = v; onchange('channel'); }));
}

function filters() {
  const q = new URLSearchParams();
  if (state.product) q.set('product', state.product);
  if (state.channel) q.set('channel', state.channel);
  return q;
}

/* A reload after a change of product or channel, its failure shown. */
function reloader(body, load) {
  return (changed) => load(changed).catch((e) => body.prepend(status('error', e.message)));
}

async function pincode(panel, ctx, pin) {
  const body = h('div', {}, loading());
  panel.append(body);
  const reload = reloader(body, (c) => load(c));
  let loads = 0; // a later choice's answers win over an earlier one's
  async function load(changed) {
    const turn = ++loads;
    const f = filters();
    const one = state.product && state.channel;
    const [ins, hist, byProduct, byChannel] = await Promise.all([
      api(`/insights/pincodes?pincode=${pin}&${f}`),
      api(`/sales/summary?pincode=${pin}&by=month&${f}`),
      api(`/sales/summary?pincode=${pin}&by=product`),
      api(`/sales/summary?pincode=${pin}&by=channel`),
    ]);
    const row = ins.pincodes[0];
    // An analyst's key asks the predictions for every horizon in one batch:
    // for one product and channel with the drivers and the rise, else for
    // each product x channel of the model, added up per horizon.
    let answer = null;
    let forecasts = [];
    const cells = !ctx.may('analyst') ? [] : one ? [[state.product, state.channel]]
      : (state.product ? [state.product] : ins.products || []).flatMap((p) =>
        (state.channel ? [state.channel] : ins.channels || []).map((c) => [p, c]));
    if (cells.length) {
      const q = HORIZONS.flatMap((horizon) => cells.map(([product, channel]) => ({ pincode: pin, product, channel, horizon })));
      const [demand, rises] = await Promise.all([
        api(`/predict/demand${one ? '?explain=true' : ''}`, { method: 'POST', body: q }),
        one ? api('/predict/demand-rise', { method: 'POST', body: q }) : null,
      ]);
      forecasts = HORIZONS.map((horizon) => {
        const mine = demand.filter((a) => a.horizon === horizon);
        const f = { horizon, period: mine[0].period, value: mine.reduce((t, a) => t + a.predicted_demand, 0) };
        if (one) {
          Object.assign(f, { low: mine[0].interval.low, high: mine[0].interval.high, level: mine[0].interval.level,
            confidence: mine[0].confidence, rise: rises.find((r) => r.horizon === horizon)?.probability });
        } else if (horizon === 1 && row) {
          f.rise = row.rise_probability; // the derived figure of a total
        }
        return f;
      });
      if (one) answer = demand.find((a) => a.horizon === 1);
    } else if (row) {
      forecasts = [{ horizon: 1, period: periodOf(ins.as_of, 1, ins.period_days), value: row.predicted_demand, rise: row.rise_probability }];
    }
    if (!ctx.current() || turn !== loads) return;
    const scope = `${state.product ? fmt.words(state.product) : 'all products'}, ${state.channel ? fmt.words(state.channel) : 'all channels'}`;
    const parts = [controls(ins, reload)];
    const next = forecasts[0];
    if (!row) {
      parts.push(status('info', `Pincode ${pin} had no sales when model version ${ins.model_version} was trained: no forecast from it (the predictions answer from its nearest pincodes with sales).`));
    } else {
      parts.push(h('p', { class: 'lead' }, h('strong', {}, `${row.district || 'Unknown district'}, ${row.state || 'unknown state'}`),
        row.region_id ? [' · ', h('a', { href: `#/region/${row.region_id}` }, `region ${row.region_id}`)] : ' · in no region'));
      const fc = answer
        ? `${fmt.num(answer.predicted_demand, 1)} sales (${Math.round(answer.interval.level * 100)}% interval ${answer.interval.low}–${answer.interval.high}; confidence ${fmt.pct(answer.confidence)})`
        : `${fmt.num(next ? next.value : row.predicted_demand, 1)} sales`;
      parts.push(h('dl', { class: 'facts' },
        h('dt', {}, `Next ${ins.period_days} days after ${ins.as_of} (${scope})`), h('dd', {}, fc),
        h('dt', {}, `Last ${ins.period_days} days`), h('dd', {}, fmt.int(row.last_period_demand)),
        h('dt', {}, 'Probability of a rise'), h('dd', {}, fmt.pct(next?.rise ?? row.rise_probability))));
    }
    const histBox = h('div', { class: 'chart wide' });
    const horizonsNote = !ctx.may('analyst')
      ? 'Forecasts 2 and 3 periods ahead come from the predictions, which need an analyst key.'
      : !one ? `Added up over ${state.product ? 'the channels' : state.channel ? 'the products' : 'the products and channels'}; ` +
        'choose one product and one channel for the intervals and the probability of a rise in each period.' : null;
    parts.push(h('section', { class: 'card', 'aria-labelledby': 'hist-h' }, h('h2', { id: 'hist-h' }, `Monthly sales and the forecast (${scope})`), histBox,
      forecasts.length ? horizonTable(`Forecast for the next ${forecasts.length > 1 ? `${forecasts.length} periods` : 'period'} of ${ins.period_days} days after ${fmt.date(ins.as_of)} (${scope})`, forecasts) : null,
      horizonsNote ? h('p', { class: 'muted' }, horizonsNote) : null));
    if (!one) parts.push(h('p', { class: 'muted' }, 'Choose one product and one channel for the forecast\'s interval and what drove it.'));
    else if (!ctx.may('analyst')) parts.push(h('p', { class: 'muted' }, 'The interval and the drivers of a forecast come from the predictions, which need an analyst key.'));
    const pBox = h('div', { class: 'chart small' });
    const cBox = h('div', { class: 'chart small' });
    parts.push(h('div', { class: 'cards' },
      h('section', { class: 'card', 'aria-labelledby': 'pm-h' }, h('h2', { id: 'pm-h' }, 'Product mix (all sales)'), pBox),
      h('section', { class: 'card', 'aria-labelledby': 'cm-h' }, h('h2', { id: 'cm-h' }, 'Channel mix (all sales)'), cBox)));
    if (answer) parts.push(h('section', { class: 'card', 'aria-labelledby': 'why-h' }, h('h2', { id: 'why-h' }, `Why this forecast (the next ${ins.period_days} days)`), driversBlock(answer, 'the forecast', ins)));
    replace(body, ...parts);
    if (changed) document.getElementById(`detail-${changed}`)?.focus();
    const shown = forecasts.length ? forecasts : [{ horizon: 1, period: periodOf(ins.as_of, 1, ins.period_days), value: 0 }];
    historyChart(histBox, `Monthly sales of pincode ${pin} (${scope}) and the forecast for the next ${shown.length > 1 ? `${shown.length} periods` : 'period'} of ${ins.period_days} days`, hist.groups, shown, ins.as_of, ins.period_days);
    mixChart(pBox, `Product mix of pincode ${pin}`, shares(byProduct.groups));
    mixChart(cBox, `Channel mix of pincode ${pin}`, shares(byChannel.groups));
  }
  await load(null);
}

async function region(panel, ctx, id) {
  const body = h('div', {}, loading());
  panel.append(body);
  const reload = reloader(body, (c) => load(c));
  let loads = 0;
  async function load(changed) {
    const turn = ++loads;
    const f = filters();
    // The region's total at each horizon (GET /insights/regions?horizon=),
    // the sum of its pincodes' forecasts for that period.
    const [reg, hist, pins, ...byHorizon] = await Promise.all([
      api(`/regions/${id}`),
      api(`/sales/summary?region=${id}&by=month&${f}`),
      api(`/insights/pincodes?region=${id}&limit=10&${f}`),
      ...HORIZONS.map((hz) => api(`/insights/regions?region=${id}&horizon=${hz}&${f}`)),
    ]);
    if (!ctx.current() || turn !== loads) return;
    const ins = byHorizon[0];
    const row = ins.regions[0];
    const forecasts = byHorizon.map((r, i) => ({
      horizon: HORIZONS[i], period: r.period || periodOf(r.as_of, HORIZONS[i], r.period_days),
      value: r.regions[0] ? r.regions[0].predicted_demand : 0,
      rise: r.regions[0] ? r.regions[0].rise_probability : undefined,
    }));
    const scope = `${state.product ? fmt.words(state.product) : 'all products'}, ${state.channel ? fmt.words(state.channel) : 'all channels'}`;
    const states = reg.states || [];
    const parts = [controls(ins, reload),
      h('p', { class: 'lead' }, h('strong', {}, `${fmt.int(reg.pincode_count)} pincodes`), ` in ${states.slice(0, 4).join(', ')}${states.length > 4 ? ` and ${states.length - 4} more states` : ''}`),
      h('dl', { class: 'facts' },
        h('dt', {}, `Next ${ins.period_days} days after ${ins.as_of} (${scope})`), h('dd', {}, `${fmt.num(row?.predicted_demand, 1)} sales`),
        h('dt', {}, `Last ${ins.period_days} days`), h('dd', {}, fmt.int(row?.last_period_demand)),
        h('dt', {}, 'Probability that its total rises'), h('dd', {}, fmt.pct(row?.rise_probability)),
        h('dt', {}, 'Top product and channel (last period)'), h('dd', {}, `${fmt.words(reg.products.top_product)}, ${fmt.words(reg.channels.top_channel)}`))];
    const histBox = h('div', { class: 'chart wide' });
    parts.push(h('section', { class: 'card', 'aria-labelledby': 'hist-h' }, h('h2', { id: 'hist-h' }, `Monthly sales and the forecast (${scope})`), histBox,
      horizonTable(`Forecast for the next ${forecasts.length} periods of ${ins.period_days} days after ${fmt.date(ins.as_of)} (${scope})`, forecasts)),
      h('p', { class: 'muted' }, 'A region\'s forecast is the sum of its pincodes\' predictions for each period, and the probability of a rise is that its total beats the last period\'s; intervals and drivers belong to single pincodes (open one below).'));
    const pBox = h('div', { class: 'chart small' });
    const cBox = h('div', { class: 'chart small' });
    parts.push(h('div', { class: 'cards' },
      h('section', { class: 'card', 'aria-labelledby': 'pm-h' }, h('h2', { id: 'pm-h' }, 'Product mix (last period)'), pBox),
      h('section', { class: 'card', 'aria-labelledby': 'cm-h' }, h('h2', { id: 'cm-h' }, 'Channel mix (last period)'), cBox)));
    parts.push(table(`Its ${pins.count} pincodes with the most predicted demand (${scope})`, [
      ['Pincode', (r) => h('a', { href: `#/pincode/${r.pincode}` }, r.pincode)],
      ['District', (r) => r.district || '–'],
      ['Predicted', (r) => fmt.num(r.predicted_demand, 1), { num: true }],
      ['Rise', (r) => fmt.pct(r.rise_probability), { num: true }],
    ], pins.pincodes));
    replace(body, ...parts);
    if (changed) document.getElementById(`detail-${changed}`)?.focus();
    historyChart(histBox, `Monthly sales of region ${id} (${scope}) and the forecast for the next ${forecasts.length} periods of ${ins.period_days} days`, hist.groups,
      forecasts, ins.as_of, ins.period_days);
    mixChart(pBox, `Product mix of region ${id}`, Object.entries(reg.products.distribution));
    mixChart(cBox, `Channel mix of region ${id}`, Object.entries(reg.channels.distribution));
  }
  await load(null);
}

export async function render(main, ctx, { kind, args }) {
  const id = args[0] || '';
  const panel = h('div', { class: 'panel detail' });
  main.append(panel);
  if (kind === 'pincode') {
    panel.append(h('h1', {}, `Pincode ${id}`));
    if (!/^[1-9][0-9]{5}$/.test(id)) {
      panel.append(status('error', 'A pincode has 6 digits, the first 1-9.'));
      return;
    }
    try {
      await pincode(panel, ctx, id);
    } catch (e) {
      panel.append(status('error', e.status === 503 ? 'No model is trained yet.' : e.message));
    }
    return;
  }
  panel.append(h('h1', {}, `Region ${id}`));
  try {
    await region(panel, ctx, id);
  } catch (e) {
    panel.append(status('error', e.status === 404 ? `There is no region ${id} in the serving model version.` : e.message));
  }
}
