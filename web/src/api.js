// The API as the dashboard calls it: the key from this tab's
// sessionStorage sent as X-API-Key, the success envelope unwrapped, errors
// turned into ApiError with the server's message and details.

const KEY = 'gromo.key';

export function getKey() {
  try {
    return sessionStorage.getItem(KEY);
  } catch (e) {
    return null;
  }
}

export function setKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function clearKey() {
  try {
    sessionStorage.removeItem(KEY);
  } catch (e) {
    /* storage off: nothing kept */
  }
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

async function failure(res) {
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = null;
  }
  const err = body && body.error;
  const e = new ApiError(res.status, err ? err.code : 'http_' + res.status,
    err ? err.message : `${res.status} ${res.statusText}`, err ? err.details : []);
  if (res.status === 401) onUnauthorized(e);
  return e;
}

function headers(extra) {
  const h = { ...extra };
  const key = getKey();
  if (key) h['X-API-Key'] = key;
  return h;
}

/* GET or POST a JSON endpoint; resolves to the envelope's data (or the bare
 * body of /health-like answers). */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, headers: headers(body !== undefined ? { 'Content-Type': 'application/json' } : {}), signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  const json = await res.json();
  return json && json.status === 'success' && 'data' in json ? json.data : json;
}

/* GET a file (CSV) and hand it to the browser as a download. */
export async function download(path, fallbackName) {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) throw await failure(res);
  const blob = await res.blob();
  const cd = res.headers.get('Content-Disposition') || '';
  const m = cd.match(/filename="([^"]+)"/);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = m ? m[1] : fallbackName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

/* POST a file with upload progress (fetch reports none): onProgress gets
 * the fraction sent. Resolves to the envelope's data. */
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    const key = getKey();
    if (key) xhr.setRequestHeader('X-API-Key', key);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable) onProgress(ev.loaded / ev.total);
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (e) {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body) {
        resolve(body.data);
        return;
      }
      const err = body && body.error;
      const e = new ApiError(xhr.status, err ? err.code : 'http_' + xhr.status,
        err ? err.message : `upload failed (${xhr.status})`, err ? err.details : []);
      if (xhr.status === 401) onUnauthorized(e);
      reject(e);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload could not reach the server', []));
    xhr.send(file);
  });
}
