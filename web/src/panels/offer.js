// Customer offer: a customer's age, income, pincode and channel give each
// product's probability of being their next purchase, the most likely one,
// and why.
import { api } from '../api.js';
import { chart, palette } from '../charts.js';
import { fmt, h, replace, status } from '../dom.js';
import { driverSentence } from './detail.js';

const last = { customer_age: '35', customer_income: '75000', pincode: '', channel: '' };

function field(id, label, attrs, help) {
  return h('div', { class: 'field' }, h('label', { for: id }, label),
    h('input', { id, name: id, value: last[id], 'aria-describedby': help ? `${id}-help` : null, ...attrs }),
    help ? h('p', { id: `${id}-help`, class: 'help' }, help) : null,
    h('p', { id: `${id}-error`, class: 'field-error', role: 'alert' }));
}

export async function render(main, ctx) {
  const panel = h('div', { class: 'panel offer' }, h('h1', {}, 'Customer offer'),
    h('p', {}, 'Which product is this customer most likely to buy next, and why.'));
  main.append(panel);
  // channels (and a sensible pincode to start from) from the rankings
  let meta = null;
  try {
    meta = await api('/insights/pincodes?limit=1');
  } catch (e) {
    panel.append(status('error', e.status === 503 ? 'No model is trained yet: offers come from its predictions.' : e.message));
    return;
  }
  if (!ctx.current()) return;
  if (!last.pincode && meta.pincodes[0]) last.pincode = meta.pincodes[0].pincode;
  if (!last.channel && meta.channels[0]) last.channel = meta.channels[0];
  const channel = h('select', { id: 'channel', name: 'channel' },
    meta.channels.map((c) => h('option', { value: c, selected: c === last.channel }, fmt.words(c))));
  const result = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'offer-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const q = {
      pincode: form.pincode.value.trim(),
      channel: channel.value,
      customer_age: Number(form.customer_age.value),
      customer_income: Number(form.customer_income.value),
    };
    Object.assign(last, { pincode: q.pincode, channel: q.channel, customer_age: form.customer_age.value,
      customer_income: form.customer_income.value });
    replace(result, h('p', { class: 'loading', role: 'status' }, 'Asking the model…'));
    let a;
    try {
      [a] = await api('/predict/top-product?explain=true', { method: 'POST', body: [q] });
    } catch (err) {
      if (!ctx.current()) return;
      replace(result, status('error', err.message));
      for (const d of err.details || []) {
        const el = document.getElementById(`${d.field}-error`);
        if (el) {
          el.textContent = d.problem;
          document.getElementById(d.field)?.setAttribute('aria-invalid', 'true');
        }
      }
      return;
    }
    if (!ctx.current()) return;
    const entries = Object.entries(a.all_products).sort((x, y) => y[1] - x[1]);
    const box = h('div', { class: 'chart small' });
    replace(result,
      h('section', { class: 'card', 'aria-labelledby': 'offer-h' },
        h('h2', { id: 'offer-h' }, 'Offer ', h('strong', { class: 'top-product' }, fmt.words(a.top_product)),
          ` (${fmt.pct(a.probability)} likely)`),
        a.fallback ? status('info', `Answered from nearby data: ${a.fallback_reason}.`) : null,
        box,
        a.drivers && a.drivers.length
          ? h('div', { class: 'drivers' }, h('p', {}, `Why ${fmt.words(a.top_product)}:`),
            h('ul', {}, a.drivers.map((d) => h('li', { class: d.contribution > 0 ? 'up' : 'down' },
              h('span', { class: 'arrow', 'aria-hidden': 'true' }, d.contribution > 0 ? '▲' : '▼'), ' ', driverSentence(d, meta)))))
          : h('p', { class: 'muted' }, a.source !== 'model' ? `The ${fmt.words(a.source)} answered: no drivers.` : 'No drivers for this answer.'),
        h('p', { class: 'muted' }, `Model version ${a.model_version}${a.region_id ? `; pincode ${a.pincode} is in region ${a.region_id}` : ''}.`)));
    chart(box, `Each product's probability of being this customer's next purchase; ${fmt.words(a.top_product)} is the most likely`, {
      grid: { left: 110, right: 50, top: 10, bottom: 25 },
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v) => fmt.pct(v, 1) },
      xAxis: { type: 'value', max: 1, axisLabel: { formatter: (v) => fmt.pct(v) } },
      yAxis: { type: 'category', data: entries.map(([k]) => fmt.words(k)), inverse: true },
      series: [{ type: 'bar', data: entries.map(([k, v]) => ({ value: v, itemStyle: { color: k === a.top_product ? palette[1] : palette[0] } })),
        label: { show: true, position: 'right', formatter: (p) => fmt.pct(p.value) } }],
    });
  } },
  field('customer_age', 'Age', { type: 'number', min: 18, max: 100, step: 1, required: true, inputmode: 'numeric' }),
  field('customer_income', 'Monthly income (INR)', { type: 'number', min: 0, max: 100000000, step: 1000, required: true, inputmode: 'numeric' }),
  field('pincode', 'Pincode', { type: 'text', inputmode: 'numeric', pattern: '[1-9][0-9]{5}', maxlength: 6, required: true, autocomplete: 'postal-code' },
    '6 digits; a pincode without sales gets an answer from its nearest pincodes with sales.'),
  h('div', { class: 'field' }, h('label', { for: 'channel' }, 'Channel'), channel, h('p', { id: 'channel-error', class: 'field-error', role: 'alert' })),
  h('button', { type: 'submit' }, 'Suggest a product'));
  panel.append(form, result);
}
