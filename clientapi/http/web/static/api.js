// The API client: the token, JSON requests, problem+json errors.
//
// The token lives in sessionStorage: it survives a reload but not the
// tab, so closing the tab on a shared machine leaves no 7-day credential
// on its disk, and the page asks the server for a token that expires in a
// week rather than the default month. (localStorage would be as exposed
// to a script injection, which the CSP and Trusted Types shut out, and
// would outlive the tab.) It travels only in the Authorization header,
// never a cookie, so a cross-site page can make no request that carries
// it: the API needs no CSRF token.

const KEY = 'switchboard.token';
const TOKEN_TTL = 7 * 24 * 3600;

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.field = problem.field || '';
  }
}

let session = null;
try { session = JSON.parse(sessionStorage.getItem(KEY)); } catch { session = null; }

const listeners = new Set();
// onLogout calls f when the token is gone: logged out, revoked, expired.
export function onLogout(f) { listeners.add(f); }

export function token() { return session && session.token; }

function forget() {
  session = null;
  sessionStorage.removeItem(KEY);
  for (const f of listeners) f();
}

export async function api(method, path, body, headers = {}) {
  const h = { ...headers };
  if (session) h.Authorization = 'Bearer ' + session.token;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const resp = await fetch('/api/v1' + path, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store', credentials: 'omit',
  });
  if (resp.status === 204) return null;
  let data = null;
  try { data = await resp.json(); } catch { data = {}; }
  if (!resp.ok) {
    if (resp.status === 401 && session && path !== '/tokens') forget();
    throw new ApiError(resp.status, data || {});
  }
  return data;
}

export async function login(username, password) {
  const r = await api('POST', '/tokens', { username, password, name: 'web page', expires_in: TOKEN_TTL });
  session = { token: r.token, id: r.id };
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

// logout revokes the token on the server, then forgets it here whatever
// the server said.
export async function logout() {
  if (session) {
    try { await api('DELETE', '/tokens/' + session.id); } catch { /* gone already */ }
  }
  forget();
}

// idempotencyKey names one message the user composed: a retry of the
// same send carries the same key and never sends twice.
export function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
