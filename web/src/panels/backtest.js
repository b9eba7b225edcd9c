// The overview's backtest section: how the demand model's forecasts 1, 2
// and 3 periods ahead did at each as-of date of the last year, from the
// `backtest` of GET /models (docs/evaluation.md, "Rolling-origin
// backtest"): a summary per horizon, then by as-of date the bias overall
// and per product and the interval coverage against its level.
import { chart, disposeChart, palette } from '../charts.js';
import { fmt, h, replace, select, status, table } from '../dom.js';

/* The baselines, in words. */
const BASELINES = {
  last_period: 'the last period',
  moving_average_3: 'the 3-period moving average',
  moving_average_6: 'the 6-period moving average',
  seasonal_naive: 'the seasonal naive forecast (a year earlier, times the trend since)',
};

/* How far from the level a month's coverage may be and still look right. */
export const COVERAGE_BAND = 0.03;

const num = (v) => typeof v === 'number' && Number.isFinite(v);

/* 0.0523 -> "+5.2%", -0.0161 -> "-1.6%" */
export const signedPct = (v) => (num(v) ? `${v > 0 ? '+' : ''}${(v * 100).toFixed(1)}%` : '–');
/* 0.7989 -> "79.9%" */
export const pct1 = (v) => (num(v) ? `${(v * 100).toFixed(1)}%` : '–');

/* The days a horizon covers after the as-of date. */
export function horizonDays(hz, periodDays) {
  return `days ${(hz - 1) * periodDays + 1}–${hz * periodDays}`;
}

export function horizonName(hz) {
  return `${hz} period${hz > 1 ? 's' : ''} ahead`;
}

function biasWords(v) {
  if (!num(v)) return '';
  if (Math.abs(v) < 0.005) return 'about right';
  return v < 0 ? 'forecasts low' : 'forecasts high';
}

function baselineName(key) {
  return BASELINES[key] || fmt.words(key || 'the baseline');
}

function skillWords(s) {
  if (!num(s.skill)) return '';
  const than = baselineName(s.best_baseline);
  if (Math.abs(s.skill) < 0.0005) return `as good as ${than}`;
  return s.skill > 0 ? `less error (deviance) than ${than}` : `more error (deviance) than ${than}: worse`;
}

function coverageText(s) {
  if (!num(s.interval_coverage_expected_1_or_more))
    return 'no cell was expected to sell 1 or more';
  const lo = s.interval_coverage_expected_1_or_more_lowest_month;
  const hi = s.interval_coverage_expected_1_or_more_highest_month;
  return [h('strong', {}, pct1(s.interval_coverage_expected_1_or_more)), ` of ${fmt.int(s.cells_expected_1_or_more)} cells`,
    num(lo) && num(hi) ? h('span', { class: 'sub' }, `by month ${pct1(lo)} to ${pct1(hi)}`) : null];
}

/* The summary per horizon: figures as rows, horizons as columns. */
function summaryTable(bt, hzs, periodDays, level) {
  const rows = [
    ['As-of dates judged', (s) => `${fmt.int(s.months)} dates, ${fmt.int(s.cells)} cells`],
    ['Bias (mean forecast ÷ mean sales − 1)', (s) => [h('strong', {}, signedPct(s.bias)), h('span', { class: 'sub' }, biasWords(s.bias))]],
    ['Largest product bias in any month', (s) => signedPct(s.largest_product_bias)],
    ['Skill against the best baseline', (s) => [h('strong', {}, pct1(s.skill)), h('span', { class: 'sub' }, skillWords(s))]],
    [`Sales within the ${Math.round(level * 100)}% interval, cells expecting 1 or more sales`, coverageText],
    ['Interval score (width plus misses; lower is better)', (s) => [h('strong', {}, fmt.num(s.interval_score, 2)), ' sales']],
  ];
  const caption = 'The demand model\'s backtest, per horizon';
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', { class: 'backtest-summary' },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Figure'),
        hzs.map((hz) => h('th', { scope: 'col', dataset: { horizon: hz } },
          horizonName(hz), h('span', { class: 'sub' }, horizonDays(hz, periodDays)))))),
      h('tbody', {}, rows.map(([label, f], i) => h('tr', { dataset: { figure: String(i) } },
        h('th', { scope: 'row' }, label),
        hzs.map((hz) => h('td', { dataset: { horizon: hz } }, f(bt.horizons[hz]))))))));
}

const dateText = (iso) => fmt.date(iso);

function biasChart(box, hz, months, products) {
  const dates = months.map((m) => dateText(m.as_of));
  const round = (v) => (num(v) ? Number(v.toFixed(4)) : null);
  const series = [
    { name: 'all products', type: 'line', data: months.map((m) => round(m.all?.bias)), symbolSize: 7,
      lineStyle: { width: 3 }, itemStyle: { color: palette[0] },
      markLine: { silent: true, symbol: 'none', lineStyle: { color: '#53606b', type: 'solid' },
        data: [{ yAxis: 0 }], label: { show: false } } },
    ...products.map((p, i) => ({ name: fmt.words(p), type: 'line', symbolSize: 5,
      lineStyle: { width: 1.5, type: 'dashed' }, itemStyle: { color: palette[(i + 1) % palette.length] },
      data: months.map((m) => round(m.products?.[p]?.bias)) })),
  ];
  return chart(box, `Bias of the forecasts ${horizonName(hz)} by as-of date, overall and per product, in per cent (0% is unbiased, below 0 too low)`, {
    grid: { left: 60, right: 24, top: 40, bottom: 55 },
    legend: { top: 0, data: series.map((s) => s.name) },
    tooltip: { trigger: 'axis', valueFormatter: (v) => signedPct(v) },
    xAxis: { type: 'category', data: dates, name: 'as-of date', nameLocation: 'middle', nameGap: 32 },
    yAxis: { type: 'value', name: 'bias', axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
    series,
  });
}

function coverageChart(box, hz, months, level) {
  const dates = months.map((m) => dateText(m.as_of));
  const lo = Math.max(0, level - COVERAGE_BAND);
  const hi = Math.min(1, level + COVERAGE_BAND);
  const cov = months.map((m) => {
    const v = m.all?.interval_coverage_expected_1_or_more;
    return num(v) ? Number(v.toFixed(4)) : null;
  });
  return chart(box, `Share of sales within the ${Math.round(level * 100)}% interval, cells expecting 1 or more sales, forecasts ${horizonName(hz)}, by as-of date, against the band ${pct1(lo)} to ${pct1(hi)}`, {
    grid: { left: 60, right: 24, top: 40, bottom: 55 },
    legend: { top: 0, data: ['within the interval'] },
    tooltip: { trigger: 'axis', valueFormatter: (v) => pct1(v) },
    xAxis: { type: 'category', data: dates, name: 'as-of date', nameLocation: 'middle', nameGap: 32 },
    yAxis: { type: 'value', min: 0, max: 1, name: 'coverage', axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
    series: [{
      name: 'within the interval', type: 'line', data: cov, symbolSize: 7, itemStyle: { color: palette[0] },
      markArea: { silent: true, itemStyle: { color: 'rgba(46,139,87,0.18)' },
        label: { show: true, position: 'insideTopLeft', color: '#1d5e33', formatter: `${Math.round(level * 100)}% level ± ${COVERAGE_BAND * 100} points` },
        data: [[{ yAxis: lo }, { yAxis: hi }]] },
      markLine: { silent: true, symbol: 'none', lineStyle: { color: '#2e8b57', type: 'dashed' }, label: { show: false },
        data: [{ yAxis: level }] },
    }],
  });
}

function monthTable(hz, months, products) {
  return table(`The backtest by as-of date, forecasts ${horizonName(hz)}`, [
    ['As of', (m) => h('time', { datetime: m.as_of }, dateText(m.as_of))],
    ['Period forecast', (m) => [h('time', { datetime: m.period_from }, dateText(m.period_from)), ' – ',
      h('time', { datetime: m.period_to }, dateText(m.period_to))]],
    ['Bias, all', (m) => signedPct(m.all?.bias), { num: true }],
    ...products.map((p) => [`Bias, ${fmt.words(p)}`, (m) => signedPct(m.products?.[p]?.bias), { num: true }]),
    ['Within the interval (cells expecting ≥ 1)', (m) => (num(m.all?.interval_coverage_expected_1_or_more)
      ? `${pct1(m.all.interval_coverage_expected_1_or_more)} of ${fmt.int(m.all.cells_expected_1_or_more)}` : 'no such cells'), { num: true }],
    ['Skill', (m) => pct1(m.all?.skill), { num: true }],
  ], months, { class: 'backtest-months' });
}

/* The section for the report's backtest (or a note when it has none). */
export function backtestSection(report) {
  const bt = report.backtest;
  const periodDays = report.data?.period_days || 30;
  const parts = [h('h2', { id: 'backtest-h' }, 'Forecasts tested on the last year (backtest)')];
  if (!bt || !bt.horizons || !Object.keys(bt.horizons).length) {
    parts.push(status('info', 'This model version has no backtest figures (it was trained by an older release). ' +
      'Train a new version to see how its forecasts 1 to 3 periods ahead did over the last year.'));
    return { node: h('section', { class: 'backtest', 'aria-labelledby': 'backtest-h' }, parts), draw: () => {} };
  }
  const level = num(bt.interval_level) ? bt.interval_level : 0.8;
  const hzs = Object.keys(bt.horizons).map(Number).filter((x) => x >= 1).sort((a, b) => a - b);
  const byMonth = bt.by_month || [];
  const products = [...new Set(byMonth.flatMap((m) => Object.keys(m.products || {})))].sort();
  parts.push(h('p', { class: 'intro' },
    `At each of the last ${fmt.int(bt.months)} as-of dates, ${periodDays} days apart, a model that knew only the sales up to that date ` +
    `forecast each pincode, product and channel 1, 2 and 3 periods of ${periodDays} days ahead. ` +
    `These figures compare those forecasts with the sales that followed (${fmt.int((bt.folds || []).length)} models, ` +
    `each trained for ${fmt.int(bt.refit_every_periods)} consecutive as-of dates). Bias and skill are in per cent, ` +
    'the interval score in sales per cell and period.'));
  parts.push(summaryTable(bt, hzs, periodDays, level));
  const biasBox = h('div', { class: 'chart', id: 'backtest-bias' });
  const covBox = h('div', { class: 'chart', id: 'backtest-coverage' });
  const covNote = h('div', { id: 'backtest-coverage-note' });
  const monthsBox = h('div', {});
  const current = { hz: hzs.includes(1) ? 1 : hzs[0], bias: null, cov: null };
  let node = null;
  const draw = () => {
    disposeChart(current.bias);
    disposeChart(current.cov);
    const months = byMonth.filter((m) => m.horizon === current.hz)
      .sort((a, b) => (a.as_of < b.as_of ? -1 : a.as_of > b.as_of ? 1 : 0));
    current.bias = biasChart(biasBox, current.hz, months, products);
    const anyCoverage = months.some((m) => num(m.all?.interval_coverage_expected_1_or_more));
    if (anyCoverage) {
      covBox.hidden = false;
      replace(covNote);
      current.cov = coverageChart(covBox, current.hz, months, level);
    } else {
      covBox.hidden = true;
      current.cov = null;
      replace(covNote, h('p', { class: 'muted' }, `At this horizon (${horizonDays(current.hz, periodDays)}) no cell was expected ` +
        'to sell 1 or more in a period, so there is no interval coverage to show (the sales are spread thin).'));
    }
    replace(monthsBox, monthTable(current.hz, months, products));
    node.dataset.horizon = String(current.hz);
  };
  const options = hzs.map((hz) => [String(hz), `${horizonName(hz)} (${horizonDays(hz, periodDays)})`]);
  parts.push(h('form', { class: 'controls', 'aria-label': 'Backtest by as-of date', onsubmit: (e) => e.preventDefault() },
    select('backtest-horizon', 'Forecast horizon', options, String(current.hz), (v) => {
      current.hz = Number(v);
      draw();
    })));
  parts.push(h('div', { class: 'cards' },
    h('section', { class: 'card', 'aria-labelledby': 'bt-bias-h' },
      h('h3', { id: 'bt-bias-h' }, 'Bias by as-of date'),
      h('p', { class: 'muted' }, 'Mean forecast against mean sales, minus 1: overall (solid) and per product (dashed). 0% is unbiased.'),
      biasBox),
    h('section', { class: 'card', 'aria-labelledby': 'bt-cov-h' },
      h('h3', { id: 'bt-cov-h' }, 'Interval coverage by as-of date'),
      h('p', { class: 'muted' }, `Share of the cells expecting 1 or more sales whose sales fell within the ${Math.round(level * 100)}% interval; ` +
        `the green band is ${pct1(level - COVERAGE_BAND)} to ${pct1(level + COVERAGE_BAND)}.`),
      covBox, covNote)));
  parts.push(h('details', { class: 'backtest-details' }, h('summary', {}, 'The figures by as-of date, as a table'), monthsBox));
  node = h('section', { class: 'backtest', 'aria-labelledby': 'backtest-h' }, parts);
  return { node, draw };
}
