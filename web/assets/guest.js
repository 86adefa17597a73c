// Guest chat: the widget's iframe page (/widget, data-mode="widget") and the standalone
// guest page (/guest). The guest token lives in this origin's localStorage, so the
// conversation survives reloads until the session expires from inactivity. Cookies are
// never used. Where the browser blocks storage in third-party frames, the widget keeps
// the token with the loader on the host page instead (postMessage, this origin only).
//
// Embedded in the host site's page (docs/integration.md), the widget also signs a customer
// in: the page posts {type: 'nati:token', token} (a host-signed token) and the widget
// exchanges it at /api/auth/host for a session held in memory only. Messages count only
// from the parent window at an origin of the server's `embed_origins`
// (/api/embed/config), and the widget answers that exact origin: {type: 'nati:unread',
// count} whenever the customer's unread total changes, {type: 'nati:need-token'} when it
// needs a (fresh) token; it accepts {type: 'nati:open', chat_id} and {type: 'nati:start',
// topic}. A signed-in customer sees their own chats, never a guest form.

import { api, useGuestToken } from './api.js';
import { Live } from './socket.js';
import { ChatView } from './chat-view.js';
import { el, icon, field, uid, notifier } from './ui.js';

const KEY = 'nati_guest';
const embedded = document.body.dataset.mode === 'widget';
const ownStorage = (() => {
  try {
    localStorage.setItem('nati_probe', '1');
    localStorage.removeItem('nati_probe');
    return true;
  } catch {
    return false;
  }
})();
const memory = {};
const store = {
  get: (k) => (ownStorage ? localStorage.getItem(k) : memory[k] ?? null),
  set: (k, v) => {
    if (ownStorage) {
      if (v == null) localStorage.removeItem(k); else localStorage.setItem(k, v);
    } else {
      memory[k] = v;
      if (embedded && k === KEY) post({ type: 'nati:store', value: v });
    }
  },
};
let saved = null;
let parentVisible = !embedded;
// Embedding: the policy from the server, the host page's origin once it proved allowed,
// and the signed-in customer's session (memory only).
let embedCfg = { origins: [], guests_allowed: true, host_signin: false };
let hostOrigin = null;
let signedIn = null;
let lastUnread = null;
let gotToken;
let tokenArrived = new Promise((r) => { gotToken = r; });
let configLoaded;
const configReady = new Promise((r) => { configLoaded = r; });
let staffOnline = null;
let live = null;
let view = null;
let unseen = 0;

function read() {
  try { return JSON.parse(store.get(KEY)) || null; } catch { return null; }
}
function write(v) {
  saved = v;
  store.set(KEY, v ? JSON.stringify(v) : null);
}
/** The origin of the page that framed us, when the browser tells it; else null. */
const framingOrigin = (() => {
  const o = (location.ancestorOrigins && location.ancestorOrigins[0])
    || (document.referrer ? (() => { try { return new URL(document.referrer).origin; } catch { return null; } })() : null);
  return o && /^https?:\/\//.test(o) ? o : null;
})();
/** The loader's messages go to that page only; '*' only when the browser does not say. */
const parentOrigin = framingOrigin || '*';
function post(msg) { if (embedded) parent.postMessage(msg, parentOrigin); }
/** To the host page, at its exact origin only (never '*'). */
function toHost(msg) { if (embedded && hostOrigin) parent.postMessage(msg, hostOrigin); }
const idleText = (secs) => {
  const h = Math.round((secs || 86400) / 3600);
  return h >= 1 ? `${h} hour${h === 1 ? '' : 's'}` : `${Math.max(1, Math.round((secs || 60) / 60))} minutes`;
};

// ---- frame ---------------------------------------------------------------------------
const presence = el('span', { class: 'gw-presence' });
const soundBtn = el('button', { class: 'icon-btn', type: 'button', onclick: () => setSound(!notifier.sound) });
const closeBtn = embedded
  ? el('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Minimise chat', onclick: () => post({ type: 'nati:close' }) }, icon('down'))
  : null;
const banner = el('div', { class: 'banner', role: 'status', hidden: true });
const body = el('div', { class: 'gw-body' });
document.body.replaceChildren(el('div', { class: `gw ${embedded ? 'embedded' : 'standalone'}` },
  el('header', { class: 'gw-head' },
    el('img', { src: '/assets/icon.svg', alt: '', width: 36, height: 36 }),
    el('div', { class: 'gw-titles' }, el('strong', { text: 'Nati Automotive' }), presence),
    soundBtn, closeBtn),
  banner, body));

function setSound(on) {
  notifier.sound = on;
  store.set('nati_sound', on ? '1' : '0');
  soundBtn.replaceChildren(icon(on ? 'sound' : 'mute'));
  soundBtn.setAttribute('aria-label', on ? 'Sound on for new replies' : 'Sound off for new replies');
  soundBtn.setAttribute('aria-pressed', String(on));
  if (on) notifier.beep();
}
setSound(store.get('nati_sound') === '1');

function setPresence(n) {
  staffOnline = n > 0;
  presence.replaceChildren(el('span', { class: `dot ${staffOnline ? 'on' : 'off'}` }),
    staffOnline ? 'We’re online' : 'We’re away right now');
  info();
}

let hello;
const helloed = new Promise((r) => { hello = r; });
addEventListener('message', async (e) => {
  if (!embedded || e.source !== parent || !e.data) return;
  if (['nati:token', 'nati:open', 'nati:start'].includes(e.data.type)) {
    await configReady;
    if (!embedCfg.origins.includes(e.origin)) return; // not a page we may serve: ignored
    hostOrigin = e.origin;
    return fromHost(e.data);
  }
  if (e.data.type === 'nati:hello') {
    if (!ownStorage && typeof e.data.stored === 'string') memory[KEY] = e.data.stored;
    hello();
  } else if (e.data.type !== 'nati:visible') return;
  parentVisible = !!e.data.visible;
  if (parentVisible) {
    unseen = 0;
    post({ type: 'nati:unread', count: 0 });
    if (view) {
      view.markRead();
      view.input.focus({ preventScroll: true });
    } else body.querySelector('input, textarea')?.focus();
  }
});
addEventListener('keydown', (e) => { if (e.key === 'Escape') post({ type: 'nati:close' }); });

// ---- start form ------------------------------------------------------------------
const infoBox = el('div', { class: 'gw-info', role: 'status' });
function info() {
  if (!view) return;
  const s = view.summary;
  let text = '';
  if (s && s.status === 'closed') text = 'This chat was closed. Write a message to reopen it.';
  else if (staffOnline === false) {
    text = saved && saved.email
      ? `No one is online right now. We’ll reply here and email you at ${saved.email}.`
      : 'No one is online right now. Leave your message here and we’ll reply as soon as we’re back.';
  }
  infoBox.textContent = text;
  infoBox.hidden = !text;
}

function showStart(notice) {
  stopLive();
  const name = el('input', { name: 'name', maxlength: '100', autocomplete: 'name' });
  const email = el('input', { name: 'email', type: 'email', autocomplete: 'email', maxlength: '254' });
  const message = el('textarea', { name: 'message', rows: 4, required: true, maxlength: '4000', placeholder: 'Ask about a repair, a part or an appointment…' });
  const err = el('p', { class: 'form-error', role: 'alert', hidden: true });
  const offline = staffOnline === false;
  email.required = offline;
  const submit = el('button', { class: 'btn primary wide', type: 'submit', text: offline ? 'Leave a message' : 'Start chat' });
  const form = el('form', { class: 'gw-form' },
    field('Your name', name, 'Optional'),
    field('Email', email, offline ? 'Required while we are away, so we can answer you.' : 'Optional — we’ll email you if you leave before we answer.'),
    field('Message', message), err, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    submit.disabled = true;
    const cid = form.dataset.cid || (form.dataset.cid = uid('g'));
    try {
      useGuestToken(null);
      const r = await api.post('/api/chat/start', {
        name: name.value.trim() || null, email: email.value.trim() || null, message: message.value, client_id: cid,
      });
      write({ token: r.guest_token, chat_id: r.chat.chat_id, email: r.guest.email, idle: r.guest.expires_after_idle_secs });
      useGuestToken(r.guest_token);
      const me = { role: 'guest', id: r.guest.guest_id, name: r.guest.name || `Guest #${r.guest.guest_id}` };
      showChat(me, r.chat);
    } catch (ex) {
      err.textContent = ex.code === 'rate_limited' ? 'Too many new chats from here. Please wait a minute.' : ex.message;
      err.hidden = false;
      submit.disabled = false;
    }
  });
  body.replaceChildren(el('div', { class: 'gw-start' },
    notice ? el('div', { class: 'notice', role: 'alert' }, icon('clock'), el('p', { text: notice })) : null,
    el('h1', { text: 'Hi! How can we help?' }),
    el('p', { class: 'muted', text: offline
      ? 'No one is online right now. Leave a message with your email and we will get back to you.'
      : staffOnline ? 'Our team is online and usually answers within a few minutes.'
        : 'Questions about your car, a repair or an appointment? Ask us here.' }),
    form,
    el('p', { class: 'fine muted', text: `Your conversation stays in this browser until it has been inactive for ${idleText(saved && saved.idle)}.` })));
  if (parentVisible) message.focus();
}

// ---- the conversation ----------------------------------------------------------
function stopLive() {
  if (live) live.stop();
  live = null;
  view = null;
  banner.hidden = true;
}

function expired() {
  const idle = saved && saved.idle;
  write(null);
  useGuestToken(null);
  const text = `Your chat session has expired after ${idleText(idle)} without activity, and the conversation was closed. You can start a new chat below.`;
  if (view) {
    view.lock('This chat session has expired.');
    stopLive();
  }
  showStart(text);
}

/** Bumped by every screen change: a list still loading when the customer has moved on
 * (opened a chat, started one) does not replace what they see. */
let renderGen = 0;

function showChat(me, chat) {
  renderGen++;
  stopLive();
  live = new Live();
  view = new ChatView({
    me, live, header: false,
    isVisible: () => parentVisible,
    composer: (s) => ({ note: null, disabled: false, s }),
    onSessionEnd: (e) => {
      if (signedIn) return sessionTrouble({ status: 401 });
      if (e.code === 'guest_expired' || e.code === 'unauthenticated') expired();
    },
  });
  // replaceChildren turns a null into the text "null": leave absent parts out.
  body.replaceChildren(...[infoBox,
    signedIn ? el('button', { class: 'btn gw-back', type: 'button', text: '← Your chats', onclick: () => showSignedIn() }) : null,
    view.root].filter(Boolean));
  live.addEventListener('ready', (e) => setPresence(e.detail.staff_online));
  live.addEventListener('status', (e) => {
    if (e.detail === 'ended') return signedIn ? sessionTrouble({ status: 401 }) : expired();
    banner.hidden = e.detail !== 'reconnecting';
    banner.replaceChildren(el('span', { class: 'spin', 'aria-hidden': 'true' }), 'Connection lost. Reconnecting…');
  });
  live.addEventListener('frame', (e) => {
    const f = e.detail;
    if (f.type === 'presence') return setPresence(f.staff_online);
    if (f.type === 'chat.updated' && f.chat_id === view.chatId) {
      view.setSummary({ ...view.summary, ...f.data });
      return info();
    }
    view.handle(f);
    if (signedIn) {
      if (f.type === 'message.created' || f.type === 'message.read') refreshUnread();
      return;
    }
    if (f.type === 'message.created' && f.chat_id === view.chatId) {
      const m = f.data;
      if (m.sender_type === 'admin' || m.sender_type === 'worker') {
        if (!parentVisible || document.hidden) {
          unseen++;
          post({ type: 'nati:unread', count: unseen });
          notifier.beep();
        }
      }
    }
  });
  live.start();
  view.open(chat);
  info();
  if (parentVisible) view.input.focus({ preventScroll: true });
}

// ---- signed in by the host page ------------------------------------------------------
async function loadEmbedConfig() {
  try { embedCfg = await api.get('/api/embed/config'); } catch { /* keep the defaults */ }
  configLoaded();
  if (!embedded || !embedCfg.origins.length) return;
  // The framing page, if it is one of the allowed origins, is asked for a token.
  if (framingOrigin && embedCfg.origins.includes(framingOrigin)) {
    hostOrigin = framingOrigin;
    toHost({ type: 'nati:need-token' });
  }
}

async function fromHost(msg) {
  if (msg.type === 'nati:token' && typeof msg.token === 'string') {
    parentVisible = true;
    try {
      useGuestToken(null);
      const r = await api.post('/api/auth/host', { token: msg.token, mode: 'bearer' });
      useGuestToken(r.token);
      const first = !signedIn;
      signedIn = { token: r.token, account: r.account };
      gotToken();
      if (!first || booted) showSignedIn();
    } catch (ex) {
      signedIn = null;
      useGuestToken(null);
      showNotice(`Signing in through the site failed: ${ex.message}`);
      gotToken();
    }
  } else if (msg.type === 'nati:open' && signedIn) {
    const id = Number(msg.chat_id);
    if (Number.isInteger(id)) showSignedIn({ open: id });
  } else if (msg.type === 'nati:start' && signedIn) {
    const topic = typeof msg.topic === 'string' ? msg.topic.slice(0, 200) : '';
    stopLive(); // the list must not redraw itself over the chat about to open
    try {
      const r = await api.post('/api/chat/start', { topic, client_id: uid('h') });
      showSignedIn({ open: r.chat.chat_id });
    } catch (ex) { sessionTrouble(ex); }
  }
}

/** The session ran out (or was ended): ask the page for a fresh token, no login form. */
function sessionTrouble(ex) {
  if (ex && ex.status === 401 && signedIn) {
    signedIn = null;
    useGuestToken(null);
    stopLive();
    showNotice('Signing you in again…');
    toHost({ type: 'nati:need-token' });
  }
}

let unreadTimer;
function refreshUnread() {
  clearTimeout(unreadTimer);
  unreadTimer = setTimeout(async () => {
    if (!signedIn) return;
    try {
      const u = await api.get('/api/chat/unread_count');
      if (u.total !== lastUnread) {
        lastUnread = u.total;
        toHost({ type: 'nati:unread', count: u.total });
      }
    } catch (ex) { sessionTrouble(ex); }
  }, 150);
}

function showNotice(text) {
  stopLive();
  body.replaceChildren(el('div', { class: 'gw-start' },
    el('div', { class: 'notice', role: 'status' }, icon('clock'), el('p', { text }))));
}

/** Guests are turned off and nobody signed in: the site signs people in. */
function showSignInNeeded() {
  stopLive();
  body.replaceChildren(el('div', { class: 'gw-start' },
    el('h1', { text: 'Sign in on the site to chat' }),
    el('p', { class: 'muted', text: 'Our chat is for signed-in customers. Sign in on the site, and the chat opens as you.' })));
}

function meOf(account) {
  return { role: account.role, id: account.id, name: account.name };
}

/** A signed-in customer's own chats, newest first, and a new chat. */
async function showSignedIn({ open } = {}) {
  if (!signedIn) return;
  const gen = ++renderGen;
  stopLive();
  let list;
  try {
    list = (await api.get('/api/chat/list', { limit: 50 })).chats;
  } catch (ex) { return sessionTrouble(ex); }
  if (gen !== renderGen) return; // the customer moved on meanwhile
  refreshUnread();
  const me = meOf(signedIn.account);
  const wanted = open != null && list.find((c) => c.chat_id === open);
  if (wanted) return showChat(me, wanted);
  live = new Live();
  const listLive = live;
  live.addEventListener('ready', (e) => setPresence(e.detail.staff_online));
  live.addEventListener('status', (e) => { if (e.detail === 'ended') sessionTrouble({ status: 401 }); });
  live.addEventListener('frame', (e) => {
    if (live !== listLive) return; // this list is no longer on screen
    const f = e.detail;
    if (f.type === 'presence') return setPresence(f.staff_online);
    if (f.type === 'message.created' || f.type === 'message.read' || f.type === 'chat.created') {
      refreshUnread();
      if (f.type !== 'message.read') showSignedIn();
    }
  });
  live.start();
  const message = el('textarea', { name: 'message', rows: 3, required: true, maxlength: '4000', placeholder: 'Ask about a repair, a part or an appointment…' });
  const err = el('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = el('form', { class: 'gw-form' }, field('New message', message), err,
    el('button', { class: 'btn primary wide', type: 'submit', text: 'Start a new chat' }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    const cid = form.dataset.cid || (form.dataset.cid = uid('h'));
    try {
      const r = await api.post('/api/chat/start', { message: message.value, client_id: cid });
      showChat(me, r.chat);
    } catch (ex) {
      if (ex.status === 401) return sessionTrouble(ex);
      err.textContent = ex.message;
      err.hidden = false;
    }
  });
  const items = list.map((c) => el('li', {},
    el('button', { class: 'gw-chat', type: 'button', onclick: () => showChat(me, c) },
      el('strong', { text: c.topic || `Chat #${c.chat_id}` }),
      el('span', { class: 'muted', text: c.last_message || c.last_message_at ? `${c.last_message_mine ? 'You: ' : ''}${c.last_message || '📎 File'}` : 'No messages yet' }),
      c.unread ? el('span', { class: 'badge', text: String(c.unread) }) : null)));
  body.replaceChildren(el('div', { class: 'gw-start' },
    el('h1', { text: `Hi ${me.name}!` }),
    list.length ? el('h2', { text: 'Your chats' }) : null,
    list.length ? el('ul', { class: 'gw-chats' }, ...items) : null,
    form));
}

let booted = false;
async function boot() {
  await loadEmbedConfig();
  // The page we are embedded in answers with a token; a customer it signs in never sees
  // the guest form.
  if (hostOrigin) await Promise.race([tokenArrived, new Promise((r) => setTimeout(r, 3000))]);
  booted = true;
  if (signedIn) {
    api.get('/api/chat/presence').then((r) => setPresence(r.staff_online)).catch(() => {});
    return showSignedIn();
  }
  if (!embedCfg.guests_allowed) return showSignInNeeded();
  // Without storage of our own, what the loader kept for us arrives with its hello.
  if (embedded && !ownStorage) await Promise.race([helloed, new Promise((r) => setTimeout(r, 1500))]);
  saved = read();
  const presenceCheck = api.get('/api/chat/presence').then((r) => setPresence(r.staff_online)).catch(() => {});
  // The link in a guest's email (`/guest?resume=...`) continues the conversation here.
  const resume = new URLSearchParams(location.search).get('resume');
  if (resume) {
    history.replaceState(null, '', location.pathname);
    try {
      useGuestToken(null);
      const r = await api.post('/api/chat/guest_resume', { token: resume });
      write({ token: r.guest_token, chat_id: null, email: r.guest.email, idle: r.guest.expires_after_idle_secs });
    } catch (e) {
      if (!(saved && saved.token)) {
        await presenceCheck;
        return showStart(e.code === 'guest_expired'
          ? 'That conversation has ended after a period of inactivity. Start a new chat below.'
          : 'This link has expired or was already used. Start a new chat below.');
      }
    }
  }
  useGuestToken(saved && saved.token);
  if (saved && saved.token) {
    try {
      const me = await api.get('/api/me');
      const list = await api.get('/api/chat/list', { limit: 1 });
      const chat = list.chats.find((c) => c.chat_id === saved.chat_id) || list.chats[0];
      await presenceCheck;
      if (chat) return showChat({ role: 'guest', id: me.id, name: me.name }, chat);
    } catch (e) {
      if (e.status === 401) {
        await presenceCheck;
        return expired();
      }
    }
  }
  await presenceCheck;
  showStart();
}

post({ type: 'nati:ready' });
boot();
