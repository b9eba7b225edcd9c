// The map of India: every pincode with sales as a point, coloured by its
// region or by the probability that its demand rises, sized by its
// predicted demand; filtered by product and channel. Hover for figures,
// click (or pick from the list below the map) for the pincode's detail.
import { api } from '../api.js';
import { chart, disposeChart, palette, project, registerIndia } from '../charts.js';
import { fmt, h, loading, replace, select, status, table } from '../dom.js';

const state = { product: '', channel: '', colour: 'region' };

function size(v, max) {
  return 3 + 15 * Math.sqrt(Math.max(v, 0) / (max || 1));
}

export async function render(main, ctx) {
  registerIndia();
  const panel = h('div', { class: 'panel map-panel' }, h('h1', {}, 'Map of India'));
  main.append(panel);
  const controls = h('form', { class: 'controls', 'aria-label': 'Map filters', onsubmit: (e) => e.preventDefault() });
  const mapBox = h('div', { class: 'chart map', id: 'india-map' });
  const note = h('div', { class: 'map-note' }, loading('Loading every pincode…'));
  const list = h('div', { class: 'map-list' });
  panel.append(controls, note, mapBox, list);
  let meta = null;
  let drawn = null;

  async function draw() {
    const q = new URLSearchParams({ limit: '100000' });
    if (state.product) q.set('product', state.product);
    if (state.channel) q.set('channel', state.channel);
    const data = await api('/insights/pincodes?' + q);
    if (!ctx.current()) return;
    meta = data;
    drawControls();
    const rows = data.pincodes.filter((r) => r.lat !== null);
    const max = rows.reduce((m, r) => Math.max(m, r.predicted_demand), 0);
    const points = rows.map((r) => {
      const [x, y] = project(r.lat, r.lng);
      return { value: [x, y, r.predicted_demand, r.rise_probability, r.region_id || 0], row: r };
    });
    const byRegion = state.colour === 'region';
    disposeChart(drawn);
    const c = chart(mapBox, `Map of India: ${rows.length} pincodes with sales, coloured by ${byRegion ? 'region' : 'probability of a rise'}, sized by predicted demand`, {
      tooltip: {
        trigger: 'item',
        formatter: (p) => {
          const r = p.data.row;
          if (!r) return p.name;
          return `<b>${r.pincode}</b> ${escapeHtml(r.district || '')}, ${escapeHtml(r.state || '')}<br>` +
            `predicted next ${data.period_days} days: ${fmt.num(r.predicted_demand, 1)}<br>` +
            `last ${data.period_days} days: ${fmt.int(r.last_period_demand)}<br>` +
            `rise probability: ${fmt.pct(r.rise_probability)}<br>` +
            `region: ${r.region_id ?? '–'}`;
        },
      },
      geo: {
        map: 'india',
        roam: true,
        layoutCenter: ['50%', '50%'],
        layoutSize: '96%',
        scaleLimit: { min: 1, max: 12 },
        itemStyle: { areaColor: '#eef2f5', borderColor: '#9aa7b1', borderWidth: 0.6 },
        emphasis: { disabled: true },
        tooltip: { show: false },
        select: { disabled: true },
      },
      visualMap: byRegion ? undefined : {
        type: 'continuous', min: 0, max: 1, dimension: 3, calculable: false, seriesIndex: 0,
        text: ['rise likely', 'unlikely'], inRange: { color: ['#2c7bb6', '#ffffbf', '#d7191c'] },
        left: 10, bottom: 10, formatter: (v) => fmt.pct(v),
      },
      series: [{
        type: 'scatter',
        coordinateSystem: 'geo',
        data: points,
        symbolSize: (v) => size(v[2], max),
        large: false,
        itemStyle: byRegion
          ? { color: (p) => (p.data.value[4] ? palette[(p.data.value[4] - 1) % palette.length] : '#9aa7b1'), opacity: 0.75, borderColor: '#fff', borderWidth: 0.3 }
          : { opacity: 0.8, borderColor: '#555', borderWidth: 0.3 },
        emphasis: { scale: 1.6 },
      }],
    });
    drawn = c;
    // which view the chart shows (its data-drawn says when it has rendered)
    mapBox.dataset.view = [state.colour, state.product || '', state.channel || ''].join('|');
    c.on('click', (p) => {
      if (p.data && p.data.row) ctx.navigate(`pincode/${p.data.row.pincode}`);
    });
    const shown = data.pincodes.length - rows.length;
    replace(note, h('p', { class: 'muted' },
      `${fmt.int(rows.length)} pincodes on the map (model version ${data.model_version}, as of ${data.as_of}` +
      `${byRegion ? '; grey: in no region' : ''})` +
      (shown ? `; ${shown} without coordinates in the gazetteer are left out` : '') +
      '. Drag to move, scroll to zoom; hover a point for its figures, click it for its detail.'));
    const top = data.pincodes.slice(0, 15);
    replace(list, table(`The ${top.length} pincodes with the most predicted demand`, [
      ['Pincode', (r) => h('a', { href: `#/pincode/${r.pincode}` }, r.pincode)],
      ['Place', (r) => `${r.district || '–'}, ${r.state || '–'}`],
      ['Region', (r) => (r.region_id ? h('a', { href: `#/region/${r.region_id}` }, String(r.region_id)) : '–')],
      ['Predicted', (r) => fmt.num(r.predicted_demand, 1), { num: true }],
      ['Rise', (r) => fmt.pct(r.rise_probability), { num: true }],
    ], top));
  }

  function drawControls() {
    const products = [['', 'All products'], ...(meta?.products || []).map((p) => [p, fmt.words(p)])];
    const channels = [['', 'All channels'], ...(meta?.channels || []).map((p) => [p, fmt.words(p)])];
    replace(controls,
      select('map-product', 'Product', products, state.product, (v) => { state.product = v; redraw(); }),
      select('map-channel', 'Channel', channels, state.channel, (v) => { state.channel = v; redraw(); }),
      select('map-colour', 'Colour by', [['region', 'Region'], ['rise', 'Probability of a rise']], state.colour,
        (v) => { state.colour = v; redraw(); }));
  }

  async function redraw() {
    const focused = document.activeElement && document.activeElement.id;
    try {
      await draw();
    } catch (e) {
      replace(note, status('error', e.message));
    }
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  }

  try {
    await draw();
  } catch (e) {
    replace(note, status('error', e.status === 503 ? 'No model is trained yet: the map shows its predictions.' : e.message));
  }
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
