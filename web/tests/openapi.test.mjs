// GET /openapi.json against a real server: a valid OpenAPI 3.1 document
// (@apidevtools/swagger-parser), every path of it described in
// docs/api.md, and the server's real answers -- successes and errors, with
// keys of each role -- have the statuses and the shapes it documents
// (validated with Ajv against the document's own schemas).
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { makeKey, repo, sampleStore, startServer } from './lib.mjs';

let srv;
let doc;
const keys = {};

before(async () => {
  const db = sampleStore('openapi');
  for (const role of ['viewer', 'analyst', 'admin']) keys[role] = makeKey(db, role, `openapi-${role}`);
  srv = await startServer(db);
  const res = await fetch(srv.url + '/openapi.json');
  assert.equal(res.status, 200);
  doc = await res.json();
});

after(async () => {
  if (srv) assert.equal(await srv.stop(), 0);
});

test('the document is valid OpenAPI 3.1', async () => {
  assert.equal(doc.openapi, '3.1.0');
  // validate() dereferences in place: give it a copy
  const api = await SwaggerParser.validate(structuredClone(doc));
  assert.ok(api.paths['/predict/demand'].post);
});

test('it is public and cacheable', async () => {
  const res = await fetch(srv.url + '/openapi.json');
  const etag = res.headers.get('etag');
  assert.ok(etag);
  assert.match(res.headers.get('cache-control'), /max-age=\d+/);
  const again = await fetch(srv.url + '/openapi.json', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
});

test('every operation names its least role and its security', () => {
  let n = 0;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      n++;
      assert.ok(['public', 'viewer', 'analyst', 'admin'].includes(op['x-role']), `${method} ${path}`);
      if (op['x-role'] === 'public') {
        assert.deepEqual(op.security, [], `${method} ${path}`);
      } else {
        assert.deepEqual(op.security, [{ ApiKey: [] }, { Bearer: [] }], `${method} ${path}`);
        assert.match(op.description, new RegExp(`Least role: \\*\\*${op['x-role']}\\*\\*`));
        for (const s of ['401', '403']) assert.ok(op.responses[s], `${method} ${path} ${s}`);
      }
      assert.ok(op.responses['500'], `${method} ${path} 500`);
      assert.ok(op.operationId && op.summary && op.tags.length === 1);
    }
  }
  assert.ok(n >= 27, `${n} operations`);
  assert.equal(doc.components.securitySchemes.ApiKey.name, 'X-API-Key');
  assert.equal(doc.components.securitySchemes.Bearer.scheme, 'bearer');
});

test('every path is described in docs/api.md', () => {
  const api = readFileSync(join(repo, 'docs', 'api.md'), 'utf8');
  for (const path of Object.keys(doc.paths))
    assert.ok(api.includes(path), `docs/api.md does not mention ${path}`);
});

// ---- the real answers against the documented ones ----

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
let ajvReady = false;

function validator(pointer) {
  if (!ajvReady) {
    ajv.addSchema(doc, 'openapi.json');
    ajvReady = true;
  }
  return ajv.getSchema('openapi.json#' + pointer);
}
const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/* Calls the server and checks the answer against the operation of
 * (method, pattern): a documented status, and a body of the documented
 * schema. Returns the parsed body (or the text). */
async function call(method, path, pattern, { key, body, type, status } = {}) {
  const headers = {};
  if (key) headers['X-API-Key'] = key;
  if (type || body !== undefined) headers['Content-Type'] = type || 'application/json';
  const res = await fetch(srv.url + path, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const op = doc.paths[pattern]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${pattern} is not documented`);
  if (status) assert.equal(res.status, status, `${method} ${path}: ${text.slice(0, 300)}`);
  const code = String(res.status);
  let resp = op.responses[code];
  assert.ok(resp, `${method} ${path} answered ${code}, which is not documented`);
  let pointer = `/paths/${esc(pattern)}/${method.toLowerCase()}/responses/${code}`;
  if (resp.$ref) {
    pointer = resp.$ref.slice(1);
    resp = doc.components.responses[resp.$ref.split('/').pop()];
  }
  const ctype = (res.headers.get('content-type') || '').split(';')[0];
  if (res.status === 304) return null;
  assert.ok(resp.content && resp.content[ctype],
    `${method} ${path}: ${ctype} is not documented for ${code}`);
  if (ctype !== 'application/json') return text;
  const data = JSON.parse(text);
  const validate = validator(`${pointer}/content/application~1json/schema`);
  assert.ok(validate, `no schema at ${pointer}`);
  if (!validate(data))
    assert.fail(`${method} ${path} (${code}) does not match its schema: ` +
      JSON.stringify(validate.errors.slice(0, 5)) + ' in ' + text.slice(0, 400));
  return data;
}

test('system and web answers match the document', async () => {
  await call('GET', '/health', '/health', { status: 200 });
  await call('GET', '/version', '/version', { status: 200 });
  await call('GET', '/metrics', '/metrics', { key: keys.viewer, status: 200 });
  await call('GET', '/stats', '/stats', { key: keys.viewer, status: 200 });
  await call('GET', '/openapi.json', '/openapi.json', { status: 200 });
  await call('GET', '/docs', '/docs', { status: 200 });
  await call('GET', '/docs/swagger-ui.css', '/docs/{file}', { status: 200 });
  await call('GET', '/docs/nothing.js', '/docs/{file}', { status: 404 });
  await call('GET', '/', '/', { status: 200 });
  await call('GET', '/assets/nothing.js', '/assets/{file}', { status: 404 });
});

test('sales answers match the document', async () => {
  const rec = { date: '2026-06-01T10:00:00', pincode: '400001', product: 'loan', channel: 'online',
    customer_age: 35, customer_income: 75000 };
  await call('POST', '/sales/add', '/sales/add', { key: keys.admin, body: [rec], status: 200 });
  await call('POST', '/sales/add', '/sales/add',
    { key: keys.admin, body: [{ ...rec, pincode: '12' }], status: 422 });
  await call('POST', '/sales/add', '/sales/add', { key: keys.admin, body: '[{', status: 400 });
  await call('POST', '/sales/add', '/sales/add',
    { key: keys.admin, body: '[]', type: 'text/plain', status: 415 });
  await call('POST', '/sales/add', '/sales/add', { key: keys.analyst, body: [rec], status: 403 });
  await call('POST', '/sales/add', '/sales/add', { body: [rec], status: 401 });
  const csv = 'date,pincode,product,channel,customer_age,customer_income\n' +
    '2026-06-02,110001,insurance,offline,41,52000\n2026-06-02,99,loan,online,30,1000\n';
  await call('POST', '/sales/upload', '/sales/upload',
    { key: keys.admin, body: csv, type: 'text/csv', status: 200 });
  const page = await call('GET', '/sales?limit=2&pincode=400001', '/sales',
    { key: keys.analyst, status: 200 });
  assert.equal(page.data.count, 2);
  await call('GET', '/sales?limit=2&format=csv', '/sales', { key: keys.analyst, status: 200 });
  await call('GET', '/sales?limit=0', '/sales', { key: keys.analyst, status: 400 });
  await call('GET', '/sales', '/sales', { key: keys.viewer, status: 403 });
  await call('GET', '/generate-sample-data/3?seed=5', '/generate-sample-data/{count}',
    { key: keys.admin, status: 200 });
  await call('POST', '/generate-sample-data/0', '/generate-sample-data/{count}',
    { key: keys.admin, status: 400 });
});

test('insight and summary answers match the document', async () => {
  const pins = await call('GET', '/insights/pincodes?limit=5&sort=growth', '/insights/pincodes',
    { key: keys.viewer, status: 200 });
  assert.equal(pins.data.count, 5);
  const first = pins.data.pincodes[0];
  await call('GET', `/insights/pincodes?product=loan&channel=online&region=${first.region_id}`,
    '/insights/pincodes', { key: keys.viewer, status: 200 });
  const csv = await call('GET', '/insights/pincodes?format=csv&limit=3', '/insights/pincodes',
    { key: keys.viewer, status: 200 });
  assert.equal(csv.trim().split('\n').length, 4);
  await call('GET', '/insights/pincodes?sort=size', '/insights/pincodes',
    { key: keys.viewer, status: 400 });
  await call('GET', '/insights/regions?sort=rise', '/insights/regions',
    { key: keys.viewer, status: 200 });
  await call('GET', '/insights/regions?format=csv', '/insights/regions',
    { key: keys.viewer, status: 200 });
  await call('GET', '/insights/regions', '/insights/regions', { status: 401 });
  for (const by of ['month', 'product', 'channel'])
    await call('GET', `/sales/summary?by=${by}`, '/sales/summary', { key: keys.viewer, status: 200 });
  await call('GET', `/sales/summary?pincode=${first.pincode}&by=channel`, '/sales/summary',
    { key: keys.viewer, status: 200 });
  await call('GET', `/sales/summary?region=${first.region_id}&product=loan`, '/sales/summary',
    { key: keys.viewer, status: 200 });
  await call('GET', `/insights/pincodes?pincode=${first.pincode}`, '/insights/pincodes',
    { key: keys.viewer, status: 200 });
  await call('GET', `/insights/regions?region=${first.region_id}`, '/insights/regions',
    { key: keys.viewer, status: 200 });
  await call('GET', '/sales/summary?region=99999', '/sales/summary', { key: keys.viewer, status: 404 });
  await call('GET', '/sales/summary?by=week', '/sales/summary', { key: keys.viewer, status: 400 });
});

test('prediction, region and model answers match the document', async () => {
  const q = { pincode: '400001', product: 'loan', channel: 'online', customer_age: 35,
    customer_income: 75000 };
  for (const kind of ['demand', 'demand-rise', 'top-product']) {
    const r = await call('POST', `/predict/${kind}?explain=true`, `/predict/${kind}`,
      { key: keys.analyst, body: [q, { pincode: 560001, product: 'card', channel: 'agent' }],
        status: 200 });
    assert.equal(r.data.length, 2);
    await call('POST', `/predict/${kind}`, `/predict/${kind}`,
      { key: keys.analyst, body: [{ pincode: 'x' }], status: 422 });
  }
  const list = await call('GET', '/regions', '/regions', { key: keys.viewer, status: 200 });
  const first = list.data.regions[0];
  await call('GET', `/regions?pincode=${first.pincodes[0]}`, '/regions',
    { key: keys.viewer, status: 200 });
  await call('GET', '/regions?pincode=12', '/regions', { key: keys.viewer, status: 400 });
  await call('GET', `/regions/${first.region_id}`, '/regions/{region_id}',
    { key: keys.viewer, status: 200 });
  await call('GET', '/regions/999999', '/regions/{region_id}', { key: keys.viewer, status: 404 });
  await call('GET', '/models', '/models', { key: keys.viewer, status: 200 });
  const job = await call('POST', '/models/train?rounds=1&origins=2', '/models/train',
    { key: keys.admin, status: 202 });
  await call('GET', `/models/train/${job.data.job_id}`, '/models/train/{job}',
    { key: keys.admin, status: 200 });
  await call('GET', '/models/train/0000000000000000', '/models/train/{job}',
    { key: keys.admin, status: 404 });
  await call('POST', '/models/train?rounds=0', '/models/train', { key: keys.admin, status: 400 });
  for (const role of ['viewer', 'analyst', 'admin']) {
    const me = await call('GET', '/whoami', '/whoami', { key: keys[role], status: 200 });
    assert.equal(me.data.role, role);
  }
  await call('GET', '/whoami', '/whoami', { key: 'gromo_nope', status: 401 });
  // the job ends before the server stops (stop waits for it)
  const done = await call('POST', '/models/train?wait=true', '/models/train',
    { key: keys.admin, status: 200 });
  assert.equal(done.data.status, 'succeeded');
  // back to the first version, at once
  await call('POST', '/models/rollback', '/models/rollback',
    { key: keys.admin, body: { version: 1 }, status: 200 });
  const m = await call('GET', '/models', '/models', { key: keys.viewer, status: 200 });
  assert.equal(m.data.version, 1);
  await call('POST', '/models/rollback', '/models/rollback',
    { key: keys.admin, body: { version: 999 }, status: 404 });
  await call('POST', '/models/rollback', '/models/rollback',
    { key: keys.admin, body: { version: 'x' }, status: 400 });
  await call('POST', '/models/rollback', '/models/rollback',
    { key: keys.analyst, body: { version: 1 }, status: 403 });
});
