// The panels embedded in the host site's page (docs/integration.md, section 4): the page hands
// us a host-signed token by postMessage, we tell it the unread count. Messages count only from
// the parent window at an origin of the server's `embed_origins` (/api/embed/config), and we
// answer that exact origin, never '*'. The widget (guest.js) speaks the same protocol.

import { api, useBearer } from './api.js';

/** Are we in a frame at all? */
export const framed = window.parent !== window;
let hostOrigin = null;
let lastUnread = null;
const handlers = {};

addEventListener('message', (e) => {
  if (!hostOrigin || e.source !== parent || e.origin !== hostOrigin || !e.data) return;
  const fn = handlers[e.data.type];
  if (fn) fn(e.data);
});

/** Handle {type} messages from the host page (e.g. 'nati:open'). */
export function onHost(type, fn) { handlers[type] = fn; }

function toHost(msg) { if (hostOrigin) parent.postMessage(msg, hostOrigin); }

/**
 * Sign in with a token from the host page: asks it ({type: 'nati:need-token'}), waits for
 * {type: 'nati:token'}, exchanges it for a bearer session held in memory. False when we are not
 * framed by an allowed origin, or no (good) token came.
 */
export async function hostSignIn(timeoutMs = 5000) {
  if (!framed) return false;
  if (!hostOrigin) {
    let cfg;
    try { cfg = await api.get('/api/embed/config'); } catch { return false; }
    const ancestor = (location.ancestorOrigins && location.ancestorOrigins[0])
      || (document.referrer ? new URL(document.referrer).origin : null);
    if (!ancestor || !cfg.origins.includes(ancestor)) return false;
    hostOrigin = ancestor;
  }
  const token = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    handlers['nati:token'] = (m) => { clearTimeout(timer); resolve(typeof m.token === 'string' ? m.token : null); };
    toHost({ type: 'nati:need-token' });
  });
  if (!token) return false;
  try {
    const r = await api.post('/api/auth/host', { token, mode: 'bearer' });
    useBearer(r.token);
    return true;
  } catch {
    return false;
  }
}

/** Did the host page sign us in (so a fresh token is what an ended session needs)? */
export function hostSession() { return hostOrigin !== null; }

/** Tell the host page the unread total, when it changed. */
export function tellUnread(count) {
  if (count === lastUnread) return;
  lastUnread = count;
  toHost({ type: 'nati:unread', count });
}
