// The dashboard: a single page whose panels are chosen by the URL's
// fragment (#/overview, #/map, ...). Signing in keeps the API key in this
// tab's sessionStorage only; /#key=KEY signs in directly (the fragment never
// reaches the server) and is then removed from the address bar and the
// history. What the key's role may not do is not offered.
import './style.css';

import { api, clearKey, getKey, setKey, whenUnauthorized } from './api.js';
import { disposeCharts } from './charts.js';
import { clear, h, replace, status } from './dom.js';
import * as dataPanel from './panels/data.js';
import * as detail from './panels/detail.js';
import * as mapPanel from './panels/map.js';
import * as offer from './panels/offer.js';
import * as overview from './panels/overview.js';
import * as rankings from './panels/rankings.js';

const ROLES = { viewer: 1, analyst: 2, admin: 3 };

/* The panels: path, title, least role, render(main, ctx, params). */
const PANELS = [
  { path: 'overview', title: 'Overview', role: 'viewer', panel: overview },
  { path: 'map', title: 'Map', role: 'viewer', panel: mapPanel },
  { path: 'rankings', title: 'Rankings', role: 'viewer', panel: rankings },
  { path: 'pincode', title: 'Pincode', role: 'viewer', panel: detail, hidden: true },
  { path: 'region', title: 'Region', role: 'viewer', panel: detail, hidden: true },
  { path: 'offer', title: 'Customer offer', role: 'analyst', panel: offer },
  { path: 'data', title: 'Data and models', role: 'admin', panel: dataPanel },
];

const app = document.getElementById('app');
let me = null; // {name, role}
let generation = 0; // bumps on every navigation: late answers are dropped

function may(role) {
  return me && ROLES[me.role] >= ROLES[role];
}

function navigate(path) {
  if (location.hash === '#/' + path) route();
  else location.hash = '#/' + path;
}

function signOut(message) {
  clearKey();
  me = null;
  disposeCharts();
  history.replaceState(null, '', location.pathname + location.search);
  showSignIn(message);
}

whenUnauthorized(() => {
  if (me) signOut('The key is no longer valid (revoked, or the server was reset). Sign in again.');
});

function shell(current) {
  const nav = h('nav', { 'aria-label': 'Panels' }, h('ul', {},
    PANELS.filter((p) => !p.hidden && may(p.role)).map((p) => h('li', {},
      h('a', { href: `#/${p.path}`, 'aria-current': p.path === current ? 'page' : null }, p.title)))));
  const header = h('header', { class: 'top' },
    h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); document.getElementById('main').focus(); } },
      'Skip to the panel'),
    h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, 'G'), 'Gromo Demand Analyzer'),
    nav,
    h('div', { class: 'who' },
      h('span', { class: 'key-name' }, me.name, ' · ', h('strong', { class: 'role' }, me.role)),
      h('a', { href: '/docs', class: 'docs-link' }, 'API docs'),
      h('button', { type: 'button', class: 'secondary', id: 'sign-out', onclick: () => signOut('Signed out: the key was removed from this tab.') }, 'Sign out')));
  const main = h('main', { id: 'main', tabindex: '-1' });
  const footer = h('footer', {},
    'Map outline: ', h('a', { href: 'https://mapsvg.com/maps/india' }, 'MapSVG'),
    ' via @svg-maps/india, ', h('a', { href: 'https://creativecommons.org/licenses/by/4.0/' }, 'CC BY 4.0'),
    '. Pincode places: the gazetteer (see NOTICE). ',
    h('a', { href: app.dataset.licenses || '#' }, 'Licenses of the bundled packages'), '.');
  replace(app, header, main, footer);
  return main;
}

async function route() {
  if (!me) return;
  const [, path = 'overview', ...rest] = (location.hash || '#/overview').split('/');
  let entry = PANELS.find((p) => p.path === path) || PANELS[0];
  if (!may(entry.role)) entry = PANELS[0];
  disposeCharts();
  const main = shell(entry.path);
  // for the benchmark (bench/dashboard.mjs): the page answers input now
  performance.mark(`gromo-shell-${entry.path}`);
  const gen = ++generation;
  document.title = `${entry.title} · Gromo Demand Analyzer`;
  const ctx = {
    me,
    may,
    navigate,
    current: () => gen === generation,
  };
  try {
    await entry.panel.render(main, ctx, { kind: entry.path, args: rest.map(decodeURIComponent) });
  } catch (e) {
    if (gen !== generation) return;
    main.append(status('error', e.message || String(e)));
  }
  if (gen === generation) {
    main.dataset.ready = entry.path;
    // for the benchmark (bench/dashboard.mjs): when the panel had its data
    performance.mark(`gromo-ready-${entry.path}`);
  }
}

function showSignIn(message) {
  document.title = 'Sign in · Gromo Demand Analyzer';
  const input = h('input', { id: 'key', name: 'key', type: 'password', autocomplete: 'off', required: true,
    spellcheck: 'false', 'aria-describedby': 'key-help' });
  const note = h('div', { id: 'sign-in-status' }, message ? status(message.startsWith('Signed out') ? 'info' : 'error', message) : null);
  const form = h('form', { class: 'sign-in', onsubmit: async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    await signIn(key, note);
  } },
  h('h1', {}, 'Gromo Demand Analyzer'),
  h('p', {}, 'Where demand for each product is, whether it is rising, what to offer each customer, and which pincodes behave alike.'),
  h('div', { class: 'field' }, h('label', { for: 'key' }, 'API key'), input),
  h('p', { id: 'key-help', class: 'help' },
    'The key stays in this browser tab only (sessionStorage) and is sent as X-API-Key. ',
    'Get one with ', h('code', {}, 'gromo keys create --role viewer --name NAME'),
    '; a link of the form ', h('code', {}, '/#key=KEY'), ' signs in directly.'),
  h('button', { type: 'submit' }, 'Sign in'),
  note);
  replace(app, h('main', { id: 'main', class: 'sign-in-page' }, form));
  app.querySelector('main').dataset.ready = 'sign-in';
  input.focus();
}

async function signIn(key, note) {
  setKey(key);
  try {
    me = await api('/whoami');
  } catch (e) {
    clearKey();
    me = null;
    if (note) replace(note, status('error', e.status === 401 ? 'That key is not valid (unknown or revoked).' : e.message));
    else showSignIn(e.status === 401 ? 'That key is not valid (unknown or revoked).' : e.message);
    return;
  }
  if (!location.hash.startsWith('#/')) history.replaceState(null, '', '#/overview');
  route();
}

window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#key=')) {
    start();
    return;
  }
  route();
});

function start() {
  // /#key=KEY: take the key, then drop it from the address bar and history
  const m = location.hash.match(/^#key=([^&]+)/);
  if (m) {
    history.replaceState(null, '', location.pathname + location.search + '#/overview');
    clear(app);
    signIn(decodeURIComponent(m[1]), null);
    return;
  }
  const key = getKey();
  if (key) signIn(key, null);
  else showSignIn(null);
}

start();
