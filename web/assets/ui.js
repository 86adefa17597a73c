// Small DOM and formatting helpers shared by every page.
// Text from people is only ever set with textContent (through `el`), never as HTML.

/** Build an element: el('button', {class: 'btn', onclick: fn, 'aria-label': 'x'}, 'text', child). */
export function el(tag, props, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') n.className = v;
    else if (k === 'text') n.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') n.addEventListener(k.slice(2), v);
    else if (k in n && !k.includes('-') && k !== 'list' && k !== 'form') n[k] = v;
    else n.setAttribute(k, v === true ? '' : v);
  }
  add(n, children);
  return n;
}

function add(n, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) add(n, c);
    else n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Cut what ends a sentence off a URL: trailing punctuation, a bracket without its opener. */
function trimUrl(u) {
  for (;;) {
    let t = u.replace(/[.,;:!?'*]+$/, '');
    const count = (c) => t.split(c).length - 1;
    if (t.endsWith(')') && count('(') < count(')')) t = t.slice(0, -1);
    if (t.endsWith(']') && count('[') < count(']')) t = t.slice(0, -1);
    if (t === u) return u;
    u = t;
  }
}

/** Whether the browser reads `u` as an http: or https: address (the href is set only then). */
function webUrl(u) {
  try {
    const p = new URL(u).protocol;
    return p === 'http:' || p === 'https:';
  } catch {
    return false;
  }
}

/**
 * Message text as nodes: text, and an <a> (new tab, rel="noopener nofollow ugc") for each
 * http(s) URL. Nothing is parsed as HTML; other schemes (javascript:) stay text. The same
 * rules as the emails' (src/mail.rs, linkify_html).
 */
export function linkify(text) {
  const out = [];
  const re = /(^|[^\p{L}\p{N}])(https?:\/\/[^\s<>"`\p{Cc}]+)/giu;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    const start = m.index + m[1].length;
    const url = trimUrl(m[2]);
    const host = url.slice(url.indexOf('://') + 3);
    if (!host || host.startsWith('/') || !webUrl(url)) continue;
    out.push(text.slice(last, start));
    out.push(el('a', { href: url, target: '_blank', rel: 'noopener nofollow ugc' }, url));
    last = start + url.length;
    re.lastIndex = last;
  }
  out.push(text.slice(last));
  return out.filter((x) => x !== '');
}

const SVG = 'http://www.w3.org/2000/svg';
const ICONS = {
  send: 'M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z',
  back: 'M15.5 5 8.5 12l7 7',
  bell: 'M6 16V11a6 6 0 1 1 12 0v5l1.5 2h-15zM10 20.5a2 2 0 0 0 4 0',
  search: 'M11 4a7 7 0 1 0 0 14 7 7 0 0 0 0-14zm9.5 16.5-4.5-4.5',
  filter: 'M4 6h16M7 12h10M10 18h4',
  plus: 'M12 5v14M5 12h14',
  close: 'M6 6l12 12M18 6 6 18',
  check: 'M4.5 12.5l4.5 4.5L19.5 6.5',
  checks: 'M2 12.5l4.5 4.5L17 6.5M11 16.5l.5.5L22 6.5',
  clock: 'M12 7v5l3 2M12 3.5a8.5 8.5 0 1 0 0 17 8.5 8.5 0 0 0 0-17z',
  alert: 'M12 8v5m0 3.5v.5M12 3.5a8.5 8.5 0 1 0 0 17 8.5 8.5 0 0 0 0-17z',
  chat: 'M4 5.5h16v10H9l-5 4z',
  gear: 'M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6zM12 2.5v3M12 18.5v3M2.5 12h3M18.5 12h3M5.3 5.3l2.1 2.1M16.6 16.6l2.1 2.1M5.3 18.7l2.1-2.1M16.6 7.4l2.1-2.1',
  out: 'M14 4h5v16h-5M10 8l-4 4 4 4M6 12h10',
  down: 'M6 9l6 6 6-6',
  sound: 'M4 9.5h3.5L12 6v12l-4.5-3.5H4zM15.5 9a4 4 0 0 1 0 6M18 6.5a7.5 7.5 0 0 1 0 11',
  mute: 'M4 9.5h3.5L12 6v12l-4.5-3.5H4zM16 9.5l5 5M21 9.5l-5 5',
  more: 'M5 12h.01M12 12h.01M19 12h.01',
  clip: 'M16.5 6.5l-7.8 7.8a2 2 0 0 0 2.8 2.8l8-8a4 4 0 0 0-5.7-5.7l-8 8a6 6 0 0 0 8.5 8.5l7-7',
  camera: 'M4 7.5h3.5L9 5h6l1.5 2.5H20v11H4zM12 10a3 3 0 1 0 0 6 3 3 0 0 0 0-6z',
  lock: 'M7.5 11V8a4.5 4.5 0 0 1 9 0v3M5.5 11h13v9.5h-13zM12 14.5v2.5',
  users: 'M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zM2.5 20c.5-3.5 3.2-5.5 6.5-5.5s6 2 6.5 5.5M16 4.5a3.5 3.5 0 0 1 0 6.5M18 14.8c2 .7 3.2 2.5 3.5 5.2',
};

/** An inline icon (static paths of ours; no markup from anywhere else). */
export function icon(name, label) {
  const s = document.createElementNS(SVG, 'svg');
  s.setAttribute('viewBox', '0 0 24 24');
  s.setAttribute('class', 'ico');
  if (label) {
    s.setAttribute('role', 'img');
    s.setAttribute('aria-label', label);
  } else s.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS(SVG, 'path');
  p.setAttribute('d', ICONS[name] || '');
  s.append(p);
  return s;
}

export function initials(name) {
  const words = String(name || '?').replace(/#\d+/, '').trim().split(/\s+/).filter(Boolean);
  const s = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || '?').slice(0, 2);
  return s.toUpperCase();
}

function hue(s) {
  let h = 0;
  for (const c of String(s)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % 8;
}

/** An avatar with the initials of `name`, coloured by name. */
export function avatar(name, extra = '') {
  return el('span', { class: `av av-${hue(name)} ${extra}`, 'aria-hidden': 'true', text: initials(name) });
}

const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' });
const dateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const yearFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const hmFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

export const dayKey = (d) => `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;

function daysAgo(d) {
  const a = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const now = new Date();
  const b = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  return Math.round((b - a) / 864e5);
}

/** "Today", "Yesterday", "Monday 3 March", "3 Mar 2024". */
export function dayLabel(d) {
  const n = daysAgo(d);
  if (n === 0) return 'Today';
  if (n === 1) return 'Yesterday';
  if (n < 7) return dayFmt.format(d);
  return d.getFullYear() === new Date().getFullYear() ? dayFmt.format(d) : yearFmt.format(d);
}

/** Short relative time: "now", "5 min", "14:05", "Yesterday", "3 Mar". */
export function relTime(ts) {
  const d = new Date(ts);
  const s = (Date.now() - d) / 1000;
  if (s < 45) return 'now';
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min`;
  const n = daysAgo(d);
  if (n === 0) return hmFmt.format(d);
  if (n === 1) return 'Yesterday';
  if (n < 7) return new Intl.DateTimeFormat(undefined, { weekday: 'short' }).format(d);
  return (d.getFullYear() === new Date().getFullYear() ? dateFmt : yearFmt).format(d);
}

export const clockTime = (ts) => hmFmt.format(new Date(ts));

/** Message times: relative within the hour ("now", "5 min ago"), then the clock time. */
export function msgTime(ts) {
  const s = (Date.now() - new Date(ts)) / 1000;
  if (s < 45) return 'now';
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  return clockTime(ts);
}

const FMT = { list: relTime, msg: msgTime };

/** A <time> showing a relative time that stays current, with the exact time on hover. */
export function timeEl(ts, kind = 'list') {
  return el('time', { datetime: ts, title: fullFmt.format(new Date(ts)), text: FMT[kind](ts), 'data-rel': kind });
}

setInterval(() => {
  for (const t of document.querySelectorAll('time[data-rel]')) t.textContent = FMT[t.dataset.rel](t.dateTime);
}, 20000);

export const STATUS = { pending: 'Waiting', open: 'Open', escalated: 'Needs admin', closed: 'Closed' };
/** A status badge; `names` relabels statuses (statuses with the same label share a colour). */
export function statusPill(s, names = STATUS) {
  const look = Object.keys(names).find((k) => names[k] === names[s]) || s;
  return el('span', { class: `pill st-${look}`, text: names[s] || s });
}

/** A client id for idempotent retries: [A-Za-z0-9-], well under 64 characters. */
export function uid(prefix = 'c') {
  const r = crypto.getRandomValues(new Uint32Array(2));
  return `${prefix}-${Date.now().toString(36)}-${r[0].toString(36)}${r[1].toString(36)}`;
}

let toastBox;
/** A short message at the bottom of the screen (errors and confirmations). */
export function toast(text, kind = 'info') {
  if (!toastBox) {
    toastBox = el('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastBox);
  }
  const t = el('div', { class: `toast toast-${kind}`, text });
  toastBox.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 6000 : 3500);
}

/** A modal dialog; resolves with the submitted form's values, or null when cancelled. */
export function modal(title, fields, submitLabel = 'Save', intro) {
  return new Promise((resolve) => {
    const form = el('form', { class: 'dlg-form', method: 'dialog' });
    const d = el('dialog', { class: 'dlg', 'aria-label': title }, form);
    add(form, [
      el('div', { class: 'dlg-head' }, el('h2', { text: title }),
        el('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => d.close() }, icon('close'))),
      intro ? el('p', { class: 'muted', text: intro }) : null,
      ...fields,
      el('div', { class: 'dlg-actions' },
        el('button', { type: 'button', class: 'btn ghost', text: 'Cancel', onclick: () => d.close() }),
        el('button', { type: 'submit', class: 'btn primary', text: submitLabel })),
    ]);
    let result = null;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      result = Object.fromEntries(new FormData(form));
      d.close();
    });
    d.addEventListener('close', () => { d.remove(); resolve(result); });
    document.body.append(d);
    d.showModal();
  });
}

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || (input.id = uid('f'));
  return el('div', { class: 'field' }, el('label', { for: id, text: label }), input,
    hint ? el('small', { class: 'hint', text: hint }) : null);
}

/** Sound and browser notifications, both opt-in. */
export const notifier = {
  sound: false,
  browser: false,
  ctx: null,
  beep() {
    if (!this.sound) return;
    try {
      this.ctx ||= new AudioContext();
      const o = this.ctx.createOscillator();
      const g = this.ctx.createGain();
      o.type = 'sine';
      o.frequency.setValueAtTime(880, this.ctx.currentTime);
      o.frequency.exponentialRampToValueAtTime(660, this.ctx.currentTime + 0.18);
      g.gain.setValueAtTime(0.0001, this.ctx.currentTime);
      g.gain.exponentialRampToValueAtTime(0.15, this.ctx.currentTime + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, this.ctx.currentTime + 0.3);
      o.connect(g).connect(this.ctx.destination);
      o.start();
      o.stop(this.ctx.currentTime + 0.32);
    } catch { /* no audio */ }
  },
  show(title, body, onclick) {
    if (!this.browser || !('Notification' in window) || Notification.permission !== 'granted') return;
    try {
      const n = new Notification(title, { body: body.slice(0, 140), tag: title, icon: '/assets/icon.svg' });
      n.onclick = () => { window.focus(); onclick?.(); n.close(); };
    } catch { /* unsupported here */ }
  },
};

/** Ask for permission to show browser notifications; true when granted. */
export async function askNotifications() {
  if (!('Notification' in window)) return false;
  if (Notification.permission === 'granted') return true;
  if (Notification.permission === 'denied') return false;
  return (await Notification.requestPermission()) === 'granted';
}
