// Fits the projection of the India outline (@svg-maps/india) that
// src/charts.js uses: the outline is drawn in a Mercator projection, so
//   x = K * lng + X0,  y = Y0 - K * mercator(lat)   (mercator in degrees).
// K, X0 and Y0 are fitted by least squares to the extents (west, east,
// south, north) of each large state: its outline's in the drawing, its
// pincodes' in the gazetteer (data/pincodes.tsv). Prints the constants and
// the rms error in drawing units (the drawing is 612 x 696).
//   node tools/fit-map.mjs
import india from '@svg-maps/india';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const merc = (lat) => (Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) * 180) / Math.PI;

/* The points of a path of m/l/z commands (all the outline uses). */
function points(d) {
  const toks = d.match(/[mzlMZL]|-?[0-9.]+(?:e-?[0-9]+)?/g);
  let x = 0, y = 0, cmd = 'm', start = null;
  const pts = [];
  for (let i = 0; i < toks.length;) {
    const t = toks[i];
    if (/[mzlMZL]/.test(t)) {
      cmd = t;
      i++;
      if ((cmd === 'z' || cmd === 'Z') && start) [x, y] = start;
      continue;
    }
    const a = parseFloat(toks[i]), b = parseFloat(toks[i + 1]);
    i += 2;
    if (cmd === 'm') { x += a; y += b; start = [x, y]; cmd = 'l'; }
    else if (cmd === 'M') { x = a; y = b; start = [x, y]; cmd = 'L'; }
    else if (cmd === 'l') { x += a; y += b; }
    else { x = a; y = b; }
    pts.push([x, y]);
  }
  return pts;
}

const geo = {};
for (const line of readFileSync(join(here, '..', '..', 'data', 'pincodes.tsv'), 'utf8').split('\n').slice(1)) {
  const f = line.split('\t');
  if (f.length < 9) continue;
  const g = (geo[f[8]] ||= { s: 90, n: -90, w: 180, e: -180, count: 0 });
  g.s = Math.min(g.s, +f[1]); g.n = Math.max(g.n, +f[1]);
  g.w = Math.min(g.w, +f[2]); g.e = Math.max(g.e, +f[2]);
  g.count++;
}
const alias = { 'Chhattisgarh': 'Chattisgarh', 'Puducherry': 'Pondicherry' };
const rows = []; // [coefficient of K, 1 for x (X0) or 0 for y (Y0), drawing value]
for (const l of india.locations) {
  const g = geo[alias[l.name] || l.name.replace(/ and /g, ' & ')];
  if (!g || g.count < 300) continue; // small states: extents too rough
  const p = points(l.path);
  const xs = p.map((q) => q[0]), ys = p.map((q) => q[1]);
  rows.push([g.w, 1, Math.min(...xs)], [g.e, 1, Math.max(...xs)],
    [-merc(g.s), 0, Math.max(...ys)], [-merc(g.n), 0, Math.min(...ys)]);
}
// normal equations of [K, X0, Y0]
const A = [[0, 0, 0], [0, 0, 0], [0, 0, 0]], b = [0, 0, 0];
for (const [v, isx, t] of rows) {
  const r = [v, isx, 1 - isx];
  for (let i = 0; i < 3; i++) { b[i] += r[i] * t; for (let j = 0; j < 3; j++) A[i][j] += r[i] * r[j]; }
}
const det = (m) => m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
  + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
const D = det(A);
const [K, X0, Y0] = [0, 1, 2].map((c) => det(A.map((row, i) => row.map((v, j) => (j === c ? b[i] : v)))) / D);
let sq = 0;
for (const [v, isx, t] of rows) sq += (t - (K * v + (isx ? X0 : Y0))) ** 2;
console.log(`K = ${K.toFixed(6)}, X0 = ${X0.toFixed(6)}, Y0 = ${Y0.toFixed(6)}; ` +
  `rms ${Math.sqrt(sq / rows.length).toFixed(2)} over ${rows.length / 4} states`);
