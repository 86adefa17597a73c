// One conversation: history (older pages on scroll), live messages, day separators, the
// unread divider, read ticks, typing, and a composer whose messages go through
// sending -> sent -> read, or failed with a retry that reuses the client id (so a retry
// is never stored twice). Staff can switch the composer to private notes, which only the
// staff see (shown on a yellow background, marked "Private note"; no typing indicator
// reaches the customer while writing one). Used by every panel, the guest page and the
// widget.

import { api } from './api.js';
import { el, icon, avatar, timeEl, dayKey, dayLabel, uid, toast, linkify } from './ui.js';

const PAGE = 40;
const GROUP_MS = 5 * 60 * 1000;

/** `staff`, `customer` or `system`: read ticks and alignment go by side. */
export const sideOf = (t) => (t === 'system' ? 'system' : t === 'admin' || t === 'worker' ? 'staff' : 'customer');

function reconcile(parent, nodes) {
  let cur = parent.firstChild;
  for (const n of nodes) {
    if (n === cur) { cur = cur.nextSibling; continue; }
    parent.insertBefore(n, cur);
  }
  while (cur) { const next = cur.nextSibling; cur.remove(); cur = next; }
}

export class ChatView {
  /**
   * @param {object} o
   *   me: {role, id, name}; live: the Live socket;
   *   header: show the header (default true); onBack(): the back button (narrow screens);
   *   title(s): header content (nodes) for a chat summary; actions(s, box): fill the tool bar;
   *   composer(s): {disabled, note}; isVisible(): may reads be marked now;
   *   onMessage(m): after a message of ours is stored; onSessionEnd(e): guest token refused.
   */
  constructor(o) {
    this.o = o;
    this.me = o.me;
    this.side = sideOf(o.me.role);
    this.chatId = null;
    this.gen = 0;
    this.msgs = new Map();
    this.nodes = new Map();
    this.days = new Map();
    this.typers = new Map();
    this.readBy = { staff: 0, customer: 0 };

    this.titleBox = el('div', { class: 'conv-title' });
    this.actionsBox = el('div', { class: 'conv-actions' });
    this.moreBtn = el('button', {
      class: 'icon-btn more', type: 'button', 'aria-label': 'Chat actions', 'aria-expanded': 'false',
      onclick: () => {
        const on = this.header.classList.toggle('show-actions');
        this.moreBtn.setAttribute('aria-expanded', String(on));
      },
    }, icon('more'));
    this.header = el('header', { class: 'conv-head' },
      el('button', { class: 'icon-btn back', type: 'button', 'aria-label': 'Back to chats', onclick: () => o.onBack?.() }, icon('back')),
      this.titleBox, this.moreBtn, this.actionsBox);
    this.top = el('div', { class: 'older' });
    this.ol = el('ol', { class: 'msgs' });
    this.scroller = el('div', { class: 'conv-scroll', role: 'log', tabindex: '0', 'aria-label': 'Messages', 'aria-live': 'polite' }, this.top, this.ol);
    this.jump = el('button', { class: 'jump', type: 'button', hidden: true, onclick: () => this.toBottom(true) }, icon('down'), 'New messages');
    this.typingBox = el('div', { class: 'typing', 'aria-live': 'polite' });
    this.note = el('div', { class: 'conv-note', hidden: true });
    // Customers: a closed chat asks how it went (1-5 stars and a comment), once.
    this.rateBox = el('div', { class: 'rate-box', hidden: true });
    this.input = el('textarea', {
      class: 'composer-input', rows: 1, maxlength: '4000', placeholder: 'Write a message…', 'aria-label': 'Message',
      oninput: () => this.onInput(), onkeydown: (e) => this.onKey(e), onblur: () => { this.stopTyping(); this.closeSuggest(); },
    });
    this.sendBtn = el('button', { class: 'send', type: 'submit', 'aria-label': 'Send message' }, icon('send'));
    // Staff: typing /shortcut offers the canned replies (the team's and one's own).
    this.canned = sideOf(o.me.role) === 'staff';
    this.suggest = el('ul', { class: 'suggest', role: 'listbox', id: `suggest-${uid()}`, 'aria-label': 'Canned replies', hidden: true });
    this.suggestHits = [];
    this.suggestAt = -1;
    // Staff: a toggle between replying to the customer and a private note for the staff.
    this.noteMode = false;
    this.noteBtn = this.canned ? el('button', {
      class: 'icon-btn note-toggle', type: 'button', 'aria-pressed': 'false', title: 'Private note: only staff see it',
      'aria-label': 'Private note', onclick: () => { this.setNoteMode(!this.noteMode); this.input.focus(); },
    }, icon('lock')) : null;
    this.noteHint = el('div', { class: 'note-hint', hidden: true }, icon('lock'),
      el('span', { text: 'Private note: only admins and the assigned worker see it, never the customer.' }));
    // Files: a button, the camera (phones), drag and drop, paste; attach.js does the rest.
    const pick = (accept, capture) => el('input', { type: 'file', hidden: true, multiple: !capture, accept, capture, onchange: (e) => { this.addFiles([...e.target.files]); e.target.value = ''; } });
    const fileIn = pick('image/*,application/pdf,audio/*,video/*');
    const camIn = pick('image/*', 'environment');
    this.tray = el('ul', { class: 'tray', 'aria-label': 'Files to send', hidden: true });
    this.form = el('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      this.canned ? this.suggest : null, this.noteBtn, fileIn, camIn,
      el('button', { class: 'icon-btn attach', type: 'button', 'aria-label': 'Attach photos or files', title: 'Attach photos or files', onclick: () => fileIn.click() }, icon('clip')),
      el('button', { class: 'icon-btn cam', type: 'button', 'aria-label': 'Take a photo', onclick: () => camIn.click() }, icon('camera')),
      this.input, this.sendBtn);
    this.input.addEventListener('paste', (e) => { const f = [...(e.clipboardData?.files || [])]; if (f.length) { e.preventDefault(); this.addFiles(f); } });
    // The saved replies' hint where there is room for it (not beside a phone's four buttons).
    this.hint = `Write a message…${this.canned && matchMedia('(min-width:481px)').matches ? ' (/ for saved replies)' : ''}`;
    this.input.placeholder = this.hint;
    this.divider = el('li', { class: 'divider' }, el('span', { text: 'Unread messages' }));
    this.root = el('section', { class: 'conv', 'aria-label': 'Conversation' },
      o.header === false ? null : this.header,
      el('div', { class: 'conv-body' }, this.scroller, this.jump),
      this.typingBox, this.rateBox, this.note, this.noteHint, this.tray, this.form);
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.root.addEventListener('dragover', (e) => { if (e.dataTransfer?.types.includes('Files')) e.preventDefault(); });
    this.root.addEventListener('drop', (e) => { const f = [...(e.dataTransfer?.files || [])]; if (f.length) { e.preventDefault(); this.addFiles(f); } });
    document.addEventListener('visibilitychange', () => this.markRead());
    addEventListener('focus', () => this.markRead());
  }

  /** attach.js, loaded the first time a file is picked or shown. */
  files() {
    return (this.att ||= import('./attach.js'));
  }

  addFiles(list) {
    if (this.input.disabled || !this.chatId) return toast('Files can be sent in an open chat.', 'error');
    this.files().then((a) => a.add(this, list));
  }

  mine(m) {
    return m.sender_type === this.me.role && m.sender_id === this.me.id;
  }

  /** Staff: write private notes (on) or replies to the customer (off). */
  setNoteMode(on) {
    if (!this.noteBtn) return;
    this.noteMode = on;
    if (on) this.stopTyping();
    this.noteBtn.setAttribute('aria-pressed', String(on));
    this.form.classList.toggle('noting', on);
    this.noteHint.hidden = !on;
    this.input.placeholder = on ? 'Write a private note for the staff…' : this.hint;
    this.input.setAttribute('aria-label', on ? 'Private note' : 'Message');
    this.sendBtn.setAttribute('aria-label', on ? 'Add private note' : 'Send message');
  }

  visible() {
    if (document.visibilityState !== 'visible' || !this.root.isConnected || !this.root.getClientRects().length) return false;
    return this.o.isVisible ? this.o.isVisible() : true;
  }

  /** Show a chat: its header, then its newest page of history. */
  async open(summary) {
    const gen = ++this.gen;
    this.stopTyping();
    this.chatId = summary.chat_id;
    this.summary = summary;
    this.setNoteMode(false);
    this.uploads = []; // a tray belongs to one chat: what was picked in another is dropped
    this.tray.replaceChildren();
    this.tray.hidden = true;
    this.msgs.clear();
    this.nodes.clear();
    this.days.clear();
    this.typers.clear();
    this.readBy = { staff: 0, customer: 0 };
    this.hasMore = false;
    this.loadingOlder = false;
    this.markedUpTo = 0;
    this.dividerBefore = null;
    this.ol.replaceChildren();
    this.top.replaceChildren(el('span', { class: 'muted', text: 'Loading…' }));
    this.renderTyping();
    this.setSummary(summary);
    this.jump.hidden = true;
    let page;
    try {
      page = await api.get('/api/chat/messages', { chat_id: summary.chat_id, limit: PAGE });
    } catch (e) {
      if (gen !== this.gen) return;
      if (e.status === 401) this.o.onSessionEnd?.(e);
      this.top.replaceChildren(el('span', { class: 'muted', text: `Could not load messages: ${e.message}` }));
      return;
    }
    if (gen !== this.gen) return;
    this.hasMore = page.has_more;
    for (const m of page.messages) this.put(m);
    // The unread divider goes before the first of the last `unread` messages from others.
    let n = summary.unread || 0;
    if (n > 0) {
      const list = this.sorted();
      for (let i = list.length - 1; i >= 0 && n > 0; i--) {
        const m = list[i];
        if (m.sender_type === 'system' || this.mine(m) || (m.is_private && this.side !== 'staff')) continue;
        if (--n === 0) this.dividerBefore = m.message_id;
      }
    }
    this.render();
    const d = this.dividerBefore && this.divider.isConnected;
    if (d) this.scroller.scrollTop = Math.max(0, this.divider.offsetTop - 80);
    else this.toBottom();
    this.markRead();
  }

  /** The chat changed (status, worker): header, tools and composer. */
  setSummary(s) {
    if (s.chat_id !== this.chatId) return;
    this.summary = s;
    const o = this.o;
    this.titleBox.replaceChildren(...[].concat(o.title ? o.title(s) : [el('h2', { text: s.topic || 'Chat' })]).filter(Boolean));
    this.actionsBox.replaceChildren();
    o.actions?.(s, this.actionsBox, this);
    this.moreBtn.hidden = !this.actionsBox.childElementCount;
    const c = o.composer ? o.composer(s) : { disabled: false };
    this.input.disabled = !!c.disabled;
    this.sendBtn.disabled = !!c.disabled;
    this.note.hidden = !c.note;
    this.note.textContent = c.note || '';
    this.renderRating(s);
  }

  /** The customer's rating of a closed chat: the form, or thanks once given. */
  renderRating(s) {
    const ask = this.side === 'customer' && s.status === 'closed';
    this.rateBox.hidden = !ask;
    if (!ask) { this.rateBox.replaceChildren(); this.ratingFor = null; return; }
    if (s.rating) {
      this.ratingFor = null;
      this.rateBox.replaceChildren(el('p', { class: 'rate-thanks', role: 'status' },
        el('span', { class: 'stars', 'aria-hidden': 'true', text: '★'.repeat(s.rating) + '☆'.repeat(5 - s.rating) }),
        el('span', { text: ` You rated this chat ${s.rating} of 5. Thank you!` })));
      return;
    }
    if (this.ratingFor === s.chat_id) return; // keep what is being typed
    this.ratingFor = s.chat_id;
    // Loaded only when a closed chat asks: the widget's first open stays small.
    import('./rating.js').then(({ ratingForm }) => {
      if (this.ratingFor !== s.chat_id || this.summary?.chat_id !== s.chat_id) return;
      this.rateBox.replaceChildren(ratingForm(s, (stars) => {
        if (this.summary?.chat_id === s.chat_id) { this.summary.rating = stars; this.renderRating(this.summary); }
      }));
    }).catch(() => { this.ratingFor = null; });
  }

  /** Disable writing with a reason (a guest session that ended). */
  lock(text) {
    this.input.disabled = true;
    this.sendBtn.disabled = true;
    this.note.hidden = false;
    this.note.textContent = text;
  }

  sorted() {
    return [...this.msgs.values()].sort((a, b) => {
      if (a.message_id && b.message_id) return a.message_id - b.message_id;
      if (a.message_id) return -1;
      if (b.message_id) return 1;
      return a.t - b.t;
    });
  }

  /** Store a server message, replacing the pending copy with the same client id. */
  put(msg) {
    if (msg.client_id) {
      for (const [k, p] of this.msgs) {
        if (!p.message_id && p.client_id === msg.client_id) { clearTimeout(p.timer); this.msgs.delete(k); }
      }
    }
    const key = `m${msg.message_id}`;
    const old = this.msgs.get(key);
    const m = { ...old, ...msg, key, state: 'sent', rev: (old?.rev || 0) + 1 };
    if (old?.is_read) m.is_read = true;
    const other = sideOf(m.sender_type) === 'staff' ? 'customer' : 'staff';
    if (m.sender_type !== 'system' && this.readBy[other] >= m.message_id) m.is_read = true;
    this.msgs.set(key, m);
    return m;
  }

  /** A frame about this chat from the socket (or an ack/error for one of our sends). */
  handle(f) {
    if (f.type === 'ack' || (f.type === 'error' && f.client_id)) return this.onAck(f);
    if (f.chat_id !== this.chatId) return;
    if (f.type === 'message.created') {
      // A late frame for a message older than the page shown (a socket catching up): it
      // comes with "Load earlier", in its place, rather than out of order now.
      if (this.hasMore && f.data.message_id < Math.min(...[...this.msgs.values()].map((m) => m.message_id || Infinity))) return;
      const near = this.nearBottom();
      const m = this.put(f.data);
      this.typers.delete(`${m.sender_type}:${m.sender_id}`);
      this.renderTyping();
      this.render();
      if (near || this.mine(m)) this.toBottom();
      else if (m.sender_type !== 'system') this.jump.hidden = false;
      this.markRead();
    } else if (f.type === 'message.read') {
      const side = sideOf(f.data.reader_type);
      const upTo = f.data.last_read_message_id;
      if (upTo <= this.readBy[side]) return;
      this.readBy[side] = upTo;
      for (const m of this.msgs.values()) {
        if (m.message_id && m.message_id <= upTo && !m.is_read && m.sender_type !== 'system' && sideOf(m.sender_type) !== side) {
          m.is_read = true;
          m.rev++;
        }
      }
      this.render();
    } else if (f.type === 'typing') {
      if (f.sender_type === this.me.role && f.sender_id === this.me.id) return;
      const k = `${f.sender_type}:${f.sender_id}`;
      if (f.state === 'started') this.typers.set(k, { name: f.name, until: Date.now() + 6000 });
      else this.typers.delete(k);
      this.renderTyping();
    }
  }

  renderTyping() {
    const now = Date.now();
    for (const [k, t] of this.typers) if (t.until < now) this.typers.delete(k);
    const names = [...this.typers.values()].map((t) => t.name);
    clearTimeout(this.typingTimer);
    if (!names.length) {
      this.typingBox.replaceChildren();
      this.typingBox.classList.remove('on');
      return;
    }
    const who = names.length === 1 ? `${names[0]} is` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are`;
    this.typingBox.replaceChildren(el('span', { class: 'dots', 'aria-hidden': 'true' }, el('i'), el('i'), el('i')),
      el('span', { text: `${who} typing…` }));
    this.typingBox.classList.add('on');
    this.typingTimer = setTimeout(() => this.renderTyping(), 1500);
  }

  daySep(key, d) {
    let n = this.days.get(key);
    if (!n) {
      n = el('li', { class: 'day' }, el('span', { text: dayLabel(d) }));
      this.days.set(key, n);
    }
    return n;
  }

  render() {
    const list = this.sorted();
    const out = [];
    const same = (a, b) => a && b && a.sender_type !== 'system' && a.sender_type === b.sender_type &&
      a.sender_id === b.sender_id && new Date(b.created_at) - new Date(a.created_at) < GROUP_MS &&
      dayKey(new Date(a.created_at)) === dayKey(new Date(b.created_at));
    let lastDay = null;
    list.forEach((m, i) => {
      const d = new Date(m.created_at);
      const k = dayKey(d);
      if (k !== lastDay) { out.push(this.daySep(k, d)); lastDay = k; }
      if (this.dividerBefore && m.message_id === this.dividerBefore) out.push(this.divider);
      const n = this.node(m);
      n.classList.toggle('g-start', !same(list[i - 1], m) || m.message_id === this.dividerBefore);
      n.classList.toggle('g-end', !same(m, list[i + 1]) || (list[i + 1] && list[i + 1].message_id === this.dividerBefore));
      out.push(n);
    });
    reconcile(this.ol, out);
    this.top.replaceChildren(this.hasMore
      ? el('button', { class: 'btn ghost small', type: 'button', text: 'Load earlier messages', onclick: () => this.older() })
      : el('span', { class: 'muted', text: list.length ? 'This is the start of the conversation' : 'No messages yet' }));
  }

  node(m) {
    const cached = this.nodes.get(m.key);
    if (cached && cached._rev === m.rev) return cached;
    const n = this.build(m);
    n._rev = m.rev;
    this.nodes.set(m.key, n);
    return n;
  }

  build(m) {
    if (m.sender_type === 'system') {
      return el('li', { class: 'msg sys' }, el('span', { class: 'sys-text' }, el('span', { text: m.message }), ' · ', timeEl(m.created_at, 'msg')));
    }
    const mine = this.mine(m);
    const ours = sideOf(m.sender_type) === this.side;
    let tick = null;
    // A note is nobody's to read: no ticks, only whether it was stored.
    if (ours && (!m.is_private || m.state !== 'sent')) {
      const [name, label] = m.state === 'sending' ? ['clock', 'Sending'] : m.state === 'failed' ? ['alert', 'Not sent']
        : m.is_read ? ['checks', 'Read'] : ['check', 'Sent'];
      tick = el('span', { class: `tick ${m.state === 'sent' && m.is_read ? 'read' : m.state}`, title: label }, icon(name, label));
    }
    const bubble = el('div', { class: 'bubble' },
      m.is_private ? el('div', { class: 'note-label' }, icon('lock'), el('span', { text: mine ? 'Private note' : `Private note · ${m.sender_name}` })) : null,
      mine || m.is_private ? null : el('div', { class: 'sender', text: m.sender_name }),
      m.attachments?.length ? this.shown(m) : null,
      m.message ? el('p', { class: 'text' }, linkify(m.message)) : null,
      el('span', { class: 'meta' }, timeEl(m.created_at, 'msg'), tick));
    const fail = m.state === 'failed'
      ? el('div', { class: 'failed', role: 'alert' }, el('span', { text: m.error || 'Not sent.' }), ' ',
        el('button', { class: 'link', type: 'button', text: 'Retry', onclick: () => this.deliver(m) }))
      : null;
    return el('li', { class: `msg ${ours ? 'out' : 'in'} ${mine ? 'mine' : ''} ${m.is_private ? 'private' : ''} ${m.state || ''}`, 'data-id': m.message_id || '' },
      ours ? null : avatar(m.sender_name, 'msg-av'),
      el('div', { class: 'col' }, bubble, fail));
  }

  shown(m) {
    const box = el('div', { class: 'files' });
    this.files().then((a) => a.show(this, m, box));
    return box;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  toBottom(smooth) {
    this.jump.hidden = true;
    const s = this.scroller;
    if (smooth) s.scrollTo({ top: s.scrollHeight, behavior: 'smooth' });
    else s.scrollTop = s.scrollHeight;
    this.markRead();
  }

  onScroll() {
    if (this.nearBottom()) {
      this.jump.hidden = true;
      this.markRead();
    }
    if (this.scroller.scrollTop < 150) this.older();
  }

  async older() {
    if (!this.hasMore || this.loadingOlder || !this.chatId) return;
    const oldest = this.sorted().find((m) => m.message_id);
    if (!oldest) return;
    this.loadingOlder = true;
    const gen = this.gen;
    this.top.replaceChildren(el('span', { class: 'muted', text: 'Loading earlier messages…' }));
    try {
      const page = await api.get('/api/chat/messages', { chat_id: this.chatId, before: oldest.message_id, limit: PAGE });
      if (gen !== this.gen) return;
      const s = this.scroller;
      const fromBottom = s.scrollHeight - s.scrollTop;
      this.hasMore = page.has_more;
      for (const m of page.messages) this.put(m);
      this.render();
      s.scrollTop = s.scrollHeight - fromBottom;
    } catch (e) {
      toast(`Could not load earlier messages: ${e.message}`, 'error');
      this.render();
    } finally {
      if (gen === this.gen) this.loadingOlder = false;
    }
  }

  /** Mark everything shown as read, when the reader can actually see it. */
  markRead() {
    if (!this.chatId || !this.visible() || !this.nearBottom()) return;
    let newest = 0;
    for (const m of this.msgs.values()) if (m.message_id > newest && !this.mine(m)) newest = m.message_id;
    if (!newest || newest <= this.markedUpTo) return;
    this.markedUpTo = newest;
    const chat_id = this.chatId;
    if (!this.o.live?.send({ type: 'read', chat_id, message_id: newest })) {
      api.post('/api/chat/mark_read', { chat_id, message_id: newest }).catch(() => { this.markedUpTo = 0; });
    }
  }

  onKey(e) {
    if (!this.suggest.hidden && this.cannedJs?.key(this, e)) return;
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !matchMedia('(pointer: coarse)').matches) {
      e.preventDefault();
      this.submit();
    }
  }

  closeSuggest() {
    this.suggest.hidden = true;
    this.suggestHits = [];
    this.suggestAt = -1;
    this.input.removeAttribute('aria-activedescendant');
  }

  onInput() {
    const t = this.input;
    t.style.height = 'auto';
    t.style.height = `${Math.min(t.scrollHeight, 160)}px`;
    if (this.canned) import('./canned.js').then((c) => { this.cannedJs = c; c.update(this); });
    if (!this.chatId) return;
    const now = Date.now();
    if (this.noteMode) return; // the customer never hears of a note being written
    if (t.value.trim() && now - (this.typingAt || 0) > 2500) {
      if (this.o.live?.send({ type: 'typing', chat_id: this.chatId, state: 'started' })) {
        this.typingAt = now;
        this.typingOn = this.chatId;
      }
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), 4000);
    if (!t.value.trim()) this.stopTyping();
  }

  stopTyping() {
    clearTimeout(this.typingIdle);
    if (this.typingOn) this.o.live?.send({ type: 'typing', chat_id: this.typingOn, state: 'stopped' });
    this.typingOn = null;
    this.typingAt = 0;
  }

  submit() {
    const text = this.input.value;
    const up = this.uploads || [];
    if ((!text.trim() && !up.length) || this.input.disabled || !this.chatId) return;
    if (text.trim().length > 4000) return toast('A message can be at most 4000 characters.', 'error');
    if (up.some((u) => !u.meta)) return toast('Wait until every file is uploaded (or remove it).', 'error');
    this.uploads = [];
    this.tray.replaceChildren();
    this.tray.hidden = true;
    this.input.value = '';
    this.onInput();
    this.dividerBefore = null;
    this.stopTyping();
    const m = {
      key: `p${uid()}`, client_id: uid(), chat_id: this.chatId, t: Date.now(), rev: 1,
      sender_type: this.me.role, sender_id: this.me.id, sender_name: this.me.name,
      message: text, created_at: new Date().toISOString(), is_read: false, state: 'sending',
      is_private: this.noteMode, attachments: up.map((u) => u.meta),
    };
    this.msgs.set(m.key, m);
    this.render();
    this.toBottom();
    this.deliver(m);
    this.input.focus();
  }

  /** Send (or resend) a pending message: over the socket when it is up, else over HTTP. */
  async deliver(m) {
    if (m.message_id) return;
    m.state = 'sending';
    m.rev++;
    m.error = null;
    this.render();
    clearTimeout(m.timer);
    const frame = { type: 'send', chat_id: m.chat_id, client_id: m.client_id, ...this.content(m) };
    if (m.is_private) frame.private = true;
    if (this.o.live?.send(frame)) {
      m.timer = setTimeout(() => this.http(m), 8000);
      return;
    }
    this.http(m);
  }

  /** A message's text (left out when only files go) and its files' ids. */
  content(m) {
    const c = m.message.trim() ? { message: m.message } : {};
    if (m.attachments?.length) c.attachments = m.attachments.map((a) => a.id);
    return c;
  }

  async http(m) {
    if (m.message_id || !this.msgs.has(m.key)) return;
    try {
      const body = { chat_id: m.chat_id, client_id: m.client_id, ...this.content(m) };
      if (m.is_private) body.private = true;
      const r = await api.post('/api/chat/send_message', body);
      if (m.chat_id === this.chatId) {
        this.put(r.message);
        this.render();
      }
      this.o.onMessage?.(r.message, r.chat_status);
    } catch (e) {
      if (e.status === 401) this.o.onSessionEnd?.(e);
      this.fail(m, e.status === 0 ? 'Not sent — you seem to be offline.' : `Not sent: ${e.message}`);
    }
  }

  fail(m, error) {
    if (!this.msgs.has(m.key)) return;
    clearTimeout(m.timer);
    m.state = 'failed';
    m.error = error;
    m.rev++;
    this.render();
  }

  onAck(f) {
    const p = [...this.msgs.values()].find((m) => !m.message_id && m.client_id === f.client_id);
    if (!p) return;
    clearTimeout(p.timer);
    if (f.type === 'error') return this.fail(p, `Not sent: ${f.message}`);
    if (!this.msgs.has(`m${f.message_id}`)) {
      this.put({ ...p, message_id: f.message_id, seq: f.seq, created_at: f.created_at || p.created_at, is_private: !!f.is_private, is_read: !!f.is_private });
    } else {
      this.msgs.delete(p.key);
    }
    this.render();
    this.o.onMessage?.(p);
  }
}
