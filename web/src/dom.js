// Building the page from data without innerHTML: every text goes in as text.

/* h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child...) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

const intFmt = new Intl.NumberFormat('en-IN');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
export const fmt = {
  int: (v) => (v === null || v === undefined ? '–' : intFmt.format(Math.round(v))),
  num: (v, digits = 1) => (v === null || v === undefined ? '–'
    : new Intl.NumberFormat('en-IN', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v)),
  pct: (v, digits = 0) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(digits)}%`),
  signed: (v, digits = 1) => (v === null || v === undefined ? '–' : `${v > 0 ? '+' : ''}${v.toFixed(digits)}`),
  inr: (v) => (v === null || v === undefined ? '–' : `₹${intFmt.format(Math.round(v))}`),
  words: (s) => String(s).replace(/_/g, ' '),
  // '2026-07-01' -> '1 Jul 2026' (read as written: no time zone applies)
  date: (iso) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(iso || ''));
    return m ? `${Number(m[3])} ${MONTHS[Number(m[2]) - 1]} ${m[1]}` : '–';
  },
};

/* A labelled <select>: options are [value, text] pairs or strings. */
export function select(id, label, options, value, onchange) {
  const sel = h('select', { id, onchange: (e) => onchange(e.target.value) },
    options.map((o) => {
      const [v, t] = Array.isArray(o) ? o : [o, o];
      return h('option', { value: v, selected: v === value }, t);
    }));
  return h('div', { class: 'field' }, h('label', { for: id }, label), sel);
}

/* A message area that screen readers announce. */
export function status(kind, text) {
  return h('p', { class: `status ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}

/* A table from rows: columns are [header, row => cell, {num: true}]. */
export function table(caption, columns, rows, opts = {}) {
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', { class: opts.class || '' },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map(([t, , o]) =>
        h('th', { scope: 'col', class: o && o.num ? 'num' : '' }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map(([, f, o]) =>
        h('td', { class: o && o.num ? 'num' : '' }, f(r))))))));
}
