// The JSON API. Panels are authenticated by the HttpOnly `nati_session` cookie (the
// browser sends a same-origin Origin on every POST); guests by their `ng_` token as a
// Bearer header, with cookies left out entirely.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let bearer = null;
let omitCookies = false;

/** Guest mode: authenticate with this token (or none yet) and never send cookies. */
export function useGuestToken(token) {
  bearer = token || null;
  omitCookies = true;
}

/** Authenticate with this bearer token only (a session from the host page, in a frame). */
export function useBearer(token) {
  bearer = token || null;
  omitCookies = true;
}

/** What a fetch needs to be this page's own person (files: thumbnails, downloads). */
export const auth = () => ({ headers: bearer ? { authorization: `Bearer ${bearer}` } : {}, credentials: omitCookies ? 'omit' : 'same-origin' });

export async function request(method, path, { query, body } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v != null && v !== '') url.searchParams.set(k, v);
  }
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: omitCookies ? 'omit' : 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const e = data && data.error;
    throw new ApiError(res.status, (e && e.code) || `http_${res.status}`, (e && e.message) || res.statusText);
  }
  return data;
}

export const api = {
  get: (path, query) => request('GET', path, { query }),
  post: (path, body) => request('POST', path, { body }),
  put: (path, body) => request('PUT', path, { body }),
};

/** Where each role works. */
export const PANEL = { admin: '/admin', worker: '/worker', user: '/chat', guest: '/guest' };

/** Send the browser to sign in, coming back here afterwards. */
export function toLogin() {
  location.replace(`/login?next=${encodeURIComponent(location.pathname + location.search + location.hash)}`);
}

export async function signOut() {
  try { await api.post('/api/auth/logout'); } catch { /* already gone */ }
  location.replace('/login');
}
