// The signed-in panels (admin, worker, customer): top bar with the bell, the chat list
// kept live from the socket, the conversation, preferences. Each panel's entry module
// passes what differs (filters, tools, extra tabs).

import { api, PANEL, toLogin, signOut } from './api.js';
import { Live } from './socket.js';
import { framed, hostSignIn, hostSession, onHost, tellUnread } from './embed.js';
import { ChatView, sideOf } from './chat-view.js';
import { el, icon, avatar, timeEl, statusPill, toast, modal, field, notifier, askNotifications, uid } from './ui.js';

const LIST_LIMIT = 50;

/**
 * cfg: role, label (e.g. 'Admin'), heading, listQuery(filters) -> query, filterBar(ctx) -> Node,
 * matches(s, filters) -> bool, item(s) -> {title, tags: [Node]}, convTitle(s), convSubtitle(s),
 * actions(s, box, ctx), composer(s) -> {disabled, note}, newChat, grouped, tabs: [{id, label, mount(box, ctx)}].
 */
export async function startPanel(cfg) {
  let me;
  try {
    me = await api.get('/api/me');
  } catch (e) {
    // Framed by the host site: its page signs us in (docs/integration.md), no login form.
    if (e.status === 401 && framed && await hostSignIn()) me = await api.get('/api/me').catch(() => null);
    if (!me && e.status === 401) return toLogin();
    if (!me) {
      document.body.replaceChildren(el('p', { class: 'fatal', text: `Cannot load: ${e.message}` }));
      return;
    }
  }
  if (me.role !== cfg.role) return location.replace(PANEL[me.role] || '/login');

  const live = new Live();
  const chats = new Map();
  const unread = new Map();
  const itemNodes = new Map();
  const filters = {};
  let unreadTotal = 0;
  let current = null;
  let nextCursor = null;
  let listGen = 0;
  let staffOnline = null;
  let away = sessionStorage.getItem('nati_away') === '1';
  let prefs = null;

  const ctx = {
    me, live, chats, filters, cfg,
    refresh: () => loadList(),
    open: (id) => openChat(id, true),
    upsert,
    refreshChat,
    async act(path, body, done) {
      try {
        const r = await api.post(path, body);
        if (r && r.chat) upsert(r.chat);
        if (done) toast(done, 'ok');
        return r;
      } catch (e) {
        toast(e.message, 'error');
        if (e.status === 404) refreshChat(body.chat_id);
        return null;
      }
    },
  };

  // ---- top bar -------------------------------------------------------------------
  const bellBadge = el('span', { class: 'badge', hidden: true });
  const bell = el('button', { class: 'icon-btn bell', type: 'button', 'aria-haspopup': 'true', 'aria-expanded': 'false', 'aria-label': 'Unread messages', onclick: () => toggleBell() }, icon('bell'), bellBadge);
  const bellPop = el('div', { class: 'popover bell-pop', hidden: true, role: 'dialog', 'aria-label': 'Unread messages' });
  const menuPop = el('div', { class: 'popover menu-pop', hidden: true, role: 'menu' },
    el('div', { class: 'menu-who' }, avatar(me.name), el('div', {}, el('strong', { text: me.name }), el('small', { class: 'muted', text: me.email || '' }))),
    el('button', { type: 'button', role: 'menuitem', onclick: () => { closePops(); openPrefs(); } }, icon('gear'), 'Notification preferences'),
    sideOf(me.role) === 'staff'
      ? el('button', { type: 'button', role: 'menuitem', onclick: () => { closePops(); openReplies(); } }, icon('chat'), 'Saved replies')
      : null,
    el('button', { type: 'button', role: 'menuitem', onclick: () => signOut() }, icon('out'), 'Sign out'));
  // The button's name begins with what it shows (the initials), then says whose it is.
  const meAv = avatar(me.name);
  meAv.removeAttribute('aria-hidden');
  const menuBtn = el('button', { class: 'me-btn', type: 'button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', onclick: () => toggle(menuPop, menuBtn) },
    meAv, el('span', { class: 'sr-only', text: ` Account: ${me.name}` }));
  const awayBtn = el('button', { class: 'avail', type: 'button', onclick: () => setAway(!away) });
  const tabBtns = [];
  const tabBar = cfg.tabs ? el('nav', { class: 'tabs', 'aria-label': 'Sections' }) : null;
  const banner = el('div', { class: 'banner', role: 'status', hidden: true });
  const top = el('header', { class: `topbar${cfg.tabs ? ' has-tabs' : ''}` },
    el('a', { class: 'brand', href: PANEL[me.role] },
      el('img', { src: '/assets/icon.svg', alt: '', width: 28, height: 28 }),
      el('span', { class: 'brand-name', text: 'Nati Automotive' }),
      el('span', { class: 'brand-role', text: cfg.label })),
    tabBar,
    el('div', { class: 'top-actions' }, sideOf(me.role) === 'staff' ? awayBtn : null,
      el('div', { class: 'pop-wrap' }, bell, bellPop), el('div', { class: 'pop-wrap' }, menuBtn, menuPop)));

  // ---- chat list -----------------------------------------------------------------
  const search = el('input', { type: 'search', class: 'search-input', placeholder: cfg.searchPlaceholder || 'Search chats', 'aria-label': 'Search chats', autocomplete: 'off' });
  let searchTimer;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { filters.q = search.value.trim() || null; loadList(); }, 250);
  });
  const list = el('ul', { class: 'chat-list', 'aria-label': 'Chats' });
  const more = el('button', { class: 'btn ghost small', type: 'button', hidden: true, text: 'Load more', onclick: () => loadList(true) });
  const presenceLine = el('p', { class: 'presence-line', hidden: true });
  const listHead = el('div', { class: 'list-head' },
    el('div', { class: 'list-title' }, el('h1', { text: cfg.heading || 'Chats' }),
      cfg.newChat ? el('button', { class: 'btn primary small', type: 'button', onclick: () => newChat() }, icon('plus'), 'New chat') : null),
    presenceLine,
    cfg.search === false ? null : el('div', { class: 'searchbar' }, icon('search'), search),
    cfg.filterBar ? cfg.filterBar(ctx) : null);
  const listPane = el('section', { class: 'list-pane', 'aria-label': 'Chat list' }, listHead,
    el('div', { class: 'list-scroll' }, list, el('div', { class: 'list-foot' }, more)));

  // ---- conversation --------------------------------------------------------------
  const view = new ChatView({
    me, live,
    onBack: () => back(),
    title: (s) => [avatar(cfg.convName ? cfg.convName(s) : s.customer_name, 'conv-av'),
      el('div', { class: 'conv-names' }, el('h2', { text: cfg.convName ? cfg.convName(s) : s.customer_name }),
        el('div', { class: 'conv-sub' }, statusPill(s.status, cfg.statusNames), cfg.convSubtitle ? cfg.convSubtitle(s) : null))],
    actions: (s, box) => cfg.actions?.(s, box, ctx),
    composer: (s) => (cfg.composer ? cfg.composer(s) : {}),
    isVisible: () => main.dataset.view === 'chat' || matchMedia('(min-width: 900px)').matches,
    onMessage: (m) => {
      const s = chats.get(m.chat_id);
      // A private note is never a row's preview (as the server has it, and as the socket does).
      if (s && !m.is_private) upsert({ ...s, ...preview(m), updated_at: m.created_at, last_message_at: m.created_at });
    },
  });
  const empty = el('div', { class: 'empty' }, el('div', { class: 'empty-art' }, icon('chat')),
    el('h2', { text: cfg.emptyTitle || 'Pick a conversation' }),
    el('p', { class: 'muted', text: cfg.emptyText || 'Choose a chat on the left to read and answer it.' }));
  const convPane = el('section', { class: 'conv-pane' }, empty);
  const main = el('main', { class: 'main', 'data-view': 'list' }, listPane, convPane);
  const tabBox = el('div', { class: 'tab-box', hidden: true });
  // The first Tab stop: straight to the chat list (past the top bar and the filters).
  const skip = el('a', {
    class: 'skip', href: '#chats', text: 'Skip to chats',
    onclick: (e) => { e.preventDefault(); (list.querySelector('.chat-item[tabindex="0"]') || search).focus(); },
  });
  document.body.replaceChildren(el('div', { class: 'app' }, skip, top, banner, main, tabBox));

  // ---- tabs (admin: accounts) --------------------------------------------------
  if (cfg.tabs) {
    const all = [{ id: 'chats', label: 'Chats' }, ...cfg.tabs];
    for (const t of all) {
      const b = el('button', { type: 'button', class: 'tab', 'aria-pressed': String(t.id === 'chats'), text: t.label, onclick: () => showTab(t) });
      tabBtns.push(b);
      tabBar.append(b);
    }
  }
  function showTab(t) {
    tabBtns.forEach((b) => b.setAttribute('aria-pressed', String(b.textContent === t.label)));
    main.hidden = t.id !== 'chats';
    tabBox.hidden = t.id === 'chats';
    if (t.id !== 'chats') {
      tabBox.replaceChildren();
      t.mount(tabBox, ctx);
    }
  }

  // ---- popovers ------------------------------------------------------------------
  function closePops() {
    for (const [p, b] of [[bellPop, bell], [menuPop, menuBtn]]) { p.hidden = true; b.setAttribute('aria-expanded', 'false'); }
  }
  function toggle(p, b) {
    const show = p.hidden;
    closePops();
    p.hidden = !show;
    b.setAttribute('aria-expanded', String(show));
    if (show) p.querySelector('button')?.focus();
  }
  document.addEventListener('click', (e) => { if (!e.target.closest('.pop-wrap')) closePops(); });
  // Esc closes an open popover and gives focus back to the button that opened it.
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    const open = [[bellPop, bell], [menuPop, menuBtn]].find(([p]) => !p.hidden);
    closePops();
    if (open) open[1].focus();
  });

  function toggleBell() {
    renderBell();
    toggle(bellPop, bell);
  }
  function renderBell() {
    const rows = [...unread].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    bellPop.replaceChildren(el('h3', { text: 'Unread' }), rows.length
      ? el('ul', { class: 'bell-list' }, rows.map(([id, n]) => {
        const s = chats.get(id);
        const name = s ? (cfg.convName ? cfg.convName(s) : s.customer_name) : `Chat #${id}`;
        return el('li', {}, el('button', { type: 'button', onclick: () => { closePops(); openChat(id, true); } },
          avatar(name), el('span', { class: 'bell-name', text: name }), el('span', { class: 'badge', text: String(n) })));
      }))
      : el('p', { class: 'muted', text: "You're all caught up." }));
  }

  // ---- banner, presence, availability ----------------------------------------------
  live.addEventListener('status', (e) => {
    const s = e.detail;
    banner.className = `banner ${s}`;
    if (s === 'reconnecting') {
      banner.replaceChildren(el('span', { class: 'spin', 'aria-hidden': 'true' }), 'Connection lost. Reconnecting…');
      banner.hidden = false;
    } else if (s === 'ended' && hostSession()) {
      // Signed in by the host page: ask it for a fresh token instead of a login form.
      banner.replaceChildren('Signing you in again…');
      banner.hidden = false;
      hostSignIn().then((ok) => { if (ok) { banner.hidden = true; live.start(); } });
    } else if (s === 'ended') {
      banner.replaceChildren('Your session has ended. ', el('a', { href: `/login?next=${encodeURIComponent(location.pathname)}`, text: 'Sign in again' }));
      banner.hidden = false;
      view.lock('Your session has ended. Sign in again to keep chatting.');
    } else {
      banner.hidden = true;
    }
  });
  function renderAvail() {
    awayBtn.replaceChildren(el('span', { class: `dot ${away ? 'away' : 'on'}` }), el('span', { class: 'avail-label', text: away ? 'Away' : 'Available' }));
    awayBtn.setAttribute('aria-label', away ? 'You appear away. Switch to available' : 'You appear available. Switch to away');
  }
  function setAway(v) {
    away = v;
    sessionStorage.setItem('nati_away', v ? '1' : '0');
    live.send({ type: 'presence', status: v ? 'away' : 'online' });
    renderAvail();
  }
  renderAvail();
  function renderPresence() {
    if (cfg.role !== 'user' || staffOnline == null) return;
    presenceLine.hidden = false;
    presenceLine.replaceChildren(el('span', { class: `dot ${staffOnline ? 'on' : 'off'}` }),
      staffOnline ? 'Support is online' : 'Support is offline — we reply by email and here as soon as we are back');
  }

  // ---- the list ----------------------------------------------------------------
  function sortKey(s) { return `${s.updated_at}|${String(s.chat_id).padStart(12, '0')}`; }
  function upsert(s) {
    const old = chats.get(s.chat_id);
    chats.set(s.chat_id, { ...old, ...s });
    if (!unread.has(s.chat_id) && typeof s.unread === 'number') unread.set(s.chat_id, s.unread);
    renderList();
    if (current === s.chat_id) view.setSummary(chats.get(s.chat_id));
  }
  function remove(id) {
    chats.delete(id);
    renderList();
  }
  // What a row previews: the newest message someone wrote (a system line changes nothing).
  function preview(m) {
    if (m.sender_type === 'system') return {};
    return { last_message: (m.message || filesPreview(m.attachments || [])).slice(0, 200), last_message_mine: m.sender_type === me.role && m.sender_id === me.id };
  }
  function item(s) {
    const n = unread.get(s.chat_id) || 0;
    const info = cfg.item(s);
    const sig = JSON.stringify([s.updated_at, s.status, s.last_message, s.last_message_mine, s.worker_name, s.assigned_by, s.customer_name, s.topic, s.rating, n, current === s.chat_id]);
    const cached = itemNodes.get(s.chat_id);
    if (cached && cached._sig === sig) return cached;
    const li = el('li', { class: 'chat-li' }, el('button', {
      type: 'button', class: `chat-item${n ? ' has-unread' : ''}`, 'aria-current': current === s.chat_id ? 'true' : null,
      'data-chat': s.chat_id, onclick: () => openChat(s.chat_id, true),
    },
    avatar(info.title),
    el('span', { class: 'ci-body' },
      el('span', { class: 'ci-top' }, el('span', { class: 'ci-name', text: info.title }), timeEl(s.last_message_at || s.updated_at)),
      el('span', { class: 'ci-mid' }, el('span', { class: 'ci-preview', text: s.last_message || s.last_message_at ? `${s.last_message_mine ? 'You: ' : ''}${s.last_message || '📎 File'}` : 'No messages yet' }),
        n ? el('span', { class: 'badge', 'aria-label': `${n} unread`, text: String(n) }) : null),
      el('span', { class: 'ci-tags' }, info.tags))));
    li._sig = sig;
    itemNodes.set(s.chat_id, li);
    return li;
  }
  function renderList() {
    const all = [...chats.values()].sort((a, b) => (sortKey(a) < sortKey(b) ? 1 : -1));
    let nodes;
    if (cfg.grouped) {
      const act = all.filter((s) => s.status !== 'closed');
      const done = all.filter((s) => s.status === 'closed');
      nodes = [];
      if (act.length) nodes.push(groupHead('Active'), ...act.map(item));
      if (done.length) nodes.push(groupHead('Closed'), ...done.map(item));
    } else nodes = all.map(item);
    if (!all.length) nodes = [emptyItem()];
    let cur = list.firstChild;
    for (const n of nodes) {
      if (n === cur) { cur = cur.nextSibling; continue; }
      list.insertBefore(n, cur);
    }
    while (cur) { const nx = cur.nextSibling; cur.remove(); cur = nx; }
    rove();
    renderBadge();
  }
  // The list is one Tab stop (the open chat, else the first); arrow keys move within it.
  function rove(to) {
    const items = [...list.querySelectorAll('.chat-item')];
    const inList = items.find((b) => b === document.activeElement);
    const stop = to || inList || items.find((b) => b.getAttribute('aria-current') === 'true') || items[0];
    for (const b of items) b.tabIndex = b === stop ? 0 : -1;
    return stop;
  }
  list.addEventListener('keydown', (e) => {
    const items = [...list.querySelectorAll('.chat-item')];
    const at = items.indexOf(document.activeElement);
    if (at < 0) return;
    const next = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[e.key];
    if (next === undefined || !items[next]) return;
    e.preventDefault();
    rove(items[next]).focus();
  });
  const heads = {};
  function groupHead(t) { return (heads[t] ||= el('li', { class: 'group-head', text: t })); }
  let emptyLi;
  function emptyItem() {
    return (emptyLi ||= el('li', { class: 'list-empty muted', text: cfg.listEmpty || 'No chats here.' }));
  }
  function renderBadge() {
    bellBadge.hidden = unreadTotal <= 0;
    bellBadge.textContent = unreadTotal > 99 ? '99+' : String(unreadTotal);
    bell.setAttribute('aria-label', `Unread messages: ${unreadTotal}`);
    document.title = `${unreadTotal > 0 ? `(${unreadTotal}) ` : ''}${cfg.title || 'Chats'} · Nati Automotive`;
    if (!bellPop.hidden) renderBell();
    tellUnread(unreadTotal);
  }

  async function loadList(append) {
    const gen = ++listGen;
    const q = { ...(cfg.listQuery ? cfg.listQuery(filters) : {}), q: filters.q, limit: LIST_LIMIT, cursor: append ? nextCursor : null };
    list.setAttribute('aria-busy', 'true');
    try {
      const r = await api.get('/api/chat/list', q);
      if (gen !== listGen) return;
      if (!append) { chats.clear(); }
      for (const s of r.chats) {
        chats.set(s.chat_id, s);
        unread.set(s.chat_id, s.unread);
      }
      nextCursor = r.next_cursor;
      more.hidden = !nextCursor;
      renderList();
    } catch (e) {
      if (e.status === 401) return toLogin();
      toast(`Could not load chats: ${e.message}`, 'error');
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  const pendingDetails = new Map();
  function refreshChat(id) {
    if (pendingDetails.has(id)) return pendingDetails.get(id);
    const p = new Promise((r) => setTimeout(r, 120)).then(() => api.get('/api/chat/details', { chat_id: id }))
      .then((r) => {
        const s = r.chat;
        const known = chats.has(id);
        const fits = cfg.matches ? cfg.matches(s, filters) : true;
        if (fits && (known || !filters.q)) upsert(s);
        else if (known && !fits) remove(id);
        else if (current === id) view.setSummary(s);
        return s;
      })
      .catch((e) => {
        if (e.status === 404) {
          remove(id);
          if (current === id) {
            view.lock('This chat is no longer assigned to you.');
            toast('A chat was moved away from you.', 'info');
          }
        }
        return null;
      })
      .finally(() => pendingDetails.delete(id));
    pendingDetails.set(id, p);
    return p;
  }

  // ---- opening chats -------------------------------------------------------------
  async function openChat(id, push) {
    let s = chats.get(id);
    if (!s) s = await refreshChat(id);
    if (!s) { toast('That chat is not available.', 'error'); return; }
    if (current !== id) {
      current = id;
      convPane.replaceChildren(view.root);
      view.open(s);
    }
    main.dataset.view = 'chat';
    // One history entry for "a chat is open": the phone's back button returns to the list.
    if (push && history.state?.chat !== id) {
      if (history.state?.chat) history.replaceState({ chat: id, pushed: history.state.pushed }, '', `#chat-${id}`);
      else history.pushState({ chat: id, pushed: true }, '', `#chat-${id}`);
    }
    renderList();
    if (!matchMedia('(pointer: coarse)').matches) view.input.focus({ preventScroll: true });
  }
  function back() {
    if (history.state?.pushed) history.back();
    else { history.replaceState(null, '', location.pathname); showList(); }
  }
  function showList() {
    main.dataset.view = 'list';
    list.querySelector('[aria-current="true"]')?.focus();
  }
  addEventListener('popstate', () => {
    const m = /^#chat-(\d+)$/.exec(location.hash);
    if (m) openChat(Number(m[1]), false);
    else showList();
  });

  // ---- live events -------------------------------------------------------------
  live.addEventListener('ready', (e) => {
    staffOnline = e.detail.staff_online;
    renderPresence();
    if (away) live.send({ type: 'presence', status: 'away' });
  });
  live.addEventListener('frame', (e) => {
    const f = e.detail;
    switch (f.type) {
      case 'message.created': {
        const m = f.data;
        const s = chats.get(f.chat_id);
        // A private note changes neither the preview nor the chat's place (as on the
        // server); a system line (a rating, say) may change more: ask for the chat as it is.
        if (s && m.sender_type !== 'system') upsert(m.is_private ? s : { ...s, ...preview(m), updated_at: m.created_at, last_message_at: m.created_at });
        else refreshChat(f.chat_id);
        if (current === f.chat_id) view.handle(f);
        const mine = m.sender_type === me.role && m.sender_id === me.id;
        if (!mine && m.sender_type !== 'system' && (document.hidden || current !== f.chat_id || !view.visible())) {
          notifier.beep();
          notifier.show(m.sender_name, m.message, () => openChat(f.chat_id, true));
        }
        break;
      }
      case 'message.read':
        if (current === f.chat_id) view.handle(f);
        break;
      case 'typing':
        if (current === f.chat_id) view.handle(f);
        break;
      case 'chat.created':
      case 'chat.updated':
        refreshChat(f.chat_id);
        break;
      case 'unread': {
        let listed = 0;
        for (const c of f.chats) { unread.set(c.chat_id, c.unread); listed += c.unread; }
        if (listed === f.total) {
          const ids = new Set(f.chats.map((c) => c.chat_id));
          for (const k of unread.keys()) if (!ids.has(k)) unread.set(k, 0);
        }
        unreadTotal = f.total;
        for (const c of f.chats) if (!chats.has(c.chat_id) && c.unread > 0 && !filters.q) refreshChat(c.chat_id);
        renderList();
        break;
      }
      case 'presence':
        staffOnline = f.staff_online;
        renderPresence();
        break;
      case 'ack':
      case 'error':
        if (f.client_id) view.handle(f);
        else if (f.type === 'error') toast(f.message, 'error');
        break;
      default:
    }
  });

  // ---- preferences -----------------------------------------------------------------
  async function loadPrefs() {
    try {
      prefs = await api.get('/api/me/preferences');
      notifier.sound = prefs.sound_enabled;
      notifier.browser = prefs.browser_notifications;
    } catch { /* keep defaults */ }
  }
  async function openPrefs() {
    await loadPrefs();
    if (!prefs) return toast('Could not load your preferences.', 'error');
    const p = prefs;
    const chk = (name, label, on, hint) => el('label', { class: 'check' },
      el('input', { type: 'checkbox', name, checked: on }), el('span', {}, el('span', { text: label }), hint ? el('small', { class: 'hint', text: hint }) : null));
    const delays = [[60, '1 minute'], [300, '5 minutes'], [600, '10 minutes'], [1800, '30 minutes'], [3600, '1 hour'], [14400, '4 hours'], [86400, '1 day']];
    if (!delays.some(([v]) => v === p.email_delay_secs)) delays.push([p.email_delay_secs, `${Math.round(p.email_delay_secs / 60)} minutes`]);
    const sel = (name, opts, value) => el('select', { name }, opts.map(([v, t]) => el('option', { value: String(v), text: t, selected: String(v) === String(value) })));
    const hours = [['', 'None'], ...Array.from({ length: 24 }, (_, h) => [h, `${String(h).padStart(2, '0')}:00`])];
    // The saved zone; never set (UTC without quiet hours): this browser's own, as a suggestion.
    const here = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    const zone = p.time_zone && (p.time_zone !== 'UTC' || p.quiet_start_hour != null) ? p.time_zone : here;
    const zones = [...new Set(['UTC', zone, ...(Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : [])])].sort();
    const fields = [
      el('fieldset', {}, el('legend', { text: 'In this browser' }),
        chk('sound_enabled', 'Play a sound for new messages', p.sound_enabled),
        chk('browser_notifications', 'Show browser notifications', p.browser_notifications, 'Your browser will ask for permission.')),
      el('fieldset', {}, el('legend', { text: 'Email' }),
        chk('email_enabled', 'Email me about messages I have not read', p.email_enabled),
        field('Send the email after', sel('email_delay_secs', delays, p.email_delay_secs)),
        me.role === 'admin' ? field('Email me about', sel('admin_scope', [['all', 'All chats'], ['unassigned', 'Chats without a worker'], ['escalated', 'Escalated chats'], ['none', 'No chats']], p.admin_scope)) : null,
        el('div', { class: 'row2' },
          field('Quiet from', sel('quiet_start_hour', hours, p.quiet_start_hour ?? '')),
          field('until', sel('quiet_end_hour', hours, p.quiet_end_hour ?? ''))),
        field('Time zone', sel('time_zone', zones.map((z) => [z, z.replace(/_/g, ' ')]), zone), 'Quiet hours are in this time zone, summer time included.')),
    ];
    const v = await modal('Notification preferences', fields, 'Save');
    if (!v) return;
    const qs = v.quiet_start_hour === '' ? null : Number(v.quiet_start_hour);
    const qe = v.quiet_end_hour === '' ? null : Number(v.quiet_end_hour);
    if ((qs == null) !== (qe == null)) return toast('Quiet hours need both a start and an end.', 'error');
    const next = {
      email_enabled: 'email_enabled' in v,
      email_delay_secs: Number(v.email_delay_secs),
      admin_scope: v.admin_scope || p.admin_scope,
      sound_enabled: 'sound_enabled' in v,
      browser_notifications: 'browser_notifications' in v,
      quiet_start_hour: qs,
      quiet_end_hour: qe,
      time_zone: v.time_zone || p.time_zone || 'UTC',
    };
    if (next.browser_notifications && !(await askNotifications())) {
      next.browser_notifications = false;
      toast('Notifications are blocked in this browser; allow them in the site settings.', 'error');
    }
    try {
      prefs = await api.put('/api/me/preferences', next);
      notifier.sound = prefs.sound_enabled;
      notifier.browser = prefs.browser_notifications;
      if (prefs.sound_enabled) notifier.beep();
      toast('Preferences saved.', 'ok');
    } catch (e) {
      toast(e.message, 'error');
    }
  }

  // ---- staff: saved (canned) replies ----------------------------------------------------
  // The team's (admins keep them) and one's own; typing / in a chat offers them.
  async function openReplies(editing = null) {
    let replies;
    try {
      replies = (await api.get('/api/chat/canned_replies')).replies;
    } catch (e) {
      return toast(e.message, 'error');
    }
    let next = null; // what to show after this dialog: the list again, or a reply to edit
    const mayChange = (r) => !r.shared || me.role === 'admin';
    const remove = async (r, btn) => {
      try {
        await api.post('/api/chat/canned_replies/delete', { id: r.id });
        toast(`/${r.shortcut} deleted.`, 'ok');
        next = { list: true };
        btn.closest('dialog')?.close();
      } catch (e) {
        toast(e.message, 'error');
      }
    };
    const edit = (r, btn) => { next = { edit: r }; btn.closest('dialog')?.close(); };
    const list = editing ? null : replies.length
      ? el('ul', { class: 'replies', 'aria-label': 'Saved replies' }, replies.map((r) => el('li', {},
        el('div', { class: 'reply-head' },
          el('strong', { text: `/${r.shortcut}` }),
          el('span', { class: r.shared ? 'tag' : 'tag ok', text: r.shared ? 'team' : 'mine' }),
          mayChange(r)
            ? el('span', { class: 'reply-actions' },
              el('button', { type: 'button', class: 'btn ghost small', text: 'Edit', 'aria-label': `Edit /${r.shortcut}`, onclick: (e) => edit(r, e.currentTarget) }),
              el('button', { type: 'button', class: 'btn ghost small', text: 'Delete', 'aria-label': `Delete /${r.shortcut}`, onclick: (e) => remove(r, e.currentTarget) }))
            : null),
        el('p', { class: 'reply-text', text: r.text }))))
      : el('p', { class: 'muted', text: 'No saved replies yet.' });
    const form = el('fieldset', {}, el('legend', { text: editing ? `Change /${editing.shortcut}` : 'Add a reply' }),
      field('Shortcut', el('input', {
        name: 'shortcut', maxlength: '33', placeholder: 'tyres', autocomplete: 'off', required: true,
        pattern: '/?[A-Za-z0-9_\\-]{1,32}', value: editing ? editing.shortcut : '',
      }), 'Letters, digits, - and _. Type / and the shortcut in a chat to use it.'),
      field('Text', el('textarea', { name: 'text', rows: 3, maxlength: '4000', required: true, value: editing ? editing.text : '' }),
        '{customer_name} and {worker_name} are filled in when you use it.'),
      me.role === 'admin' && !editing
        ? el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'shared', checked: true }),
          el('span', { text: 'For the whole team' }))
        : null);
    const v = await modal('Saved replies', [list, form], editing ? 'Save changes' : 'Add reply',
      editing ? null : 'Type / in a chat\'s message box to use them.');
    if (v) {
      try {
        const { reply } = editing
          ? await api.post('/api/chat/canned_replies/update', { id: editing.id, shortcut: v.shortcut, text: v.text })
          : await api.post('/api/chat/canned_replies', { shortcut: v.shortcut, text: v.text, shared: 'shared' in v });
        toast(`/${reply.shortcut} saved.`, 'ok');
        next = { list: true };
      } catch (e) {
        toast(e.message, 'error');
      }
    } else if (editing && !next) {
      next = { list: true };
    }
    view.cannedList = null;
    if (next?.edit) openReplies(next.edit);
    else if (next) openReplies();
  }

  // ---- customers: new chat ---------------------------------------------------------
  async function newChat() {
    const topic = el('input', { name: 'topic', maxlength: '200', placeholder: 'e.g. Brake noise, service booking', autocomplete: 'off' });
    const msg = el('textarea', { name: 'message', rows: 4, required: true, maxlength: '4000', placeholder: 'How can we help?' });
    const v = await modal('Start a new chat', [field('Topic', topic, 'Optional'), field('Message', msg)], 'Start chat');
    if (!v) return;
    try {
      const r = await api.post('/api/chat/start', { topic: v.topic.trim() || null, message: v.message, client_id: uid('s') });
      upsert(r.chat);
      openChat(r.chat.chat_id, true);
    } catch (e) {
      toast(e.message, 'error');
    }
  }

  // ---- start ---------------------------------------------------------------------
  loadPrefs();
  live.start();
  await new Promise((resolve) => {
    const done = () => { live.removeEventListener('ready', done); resolve(); };
    live.addEventListener('ready', done);
    setTimeout(done, 4000);
  });
  await loadList();
  onHost('nati:open', (m) => { if (Number.isInteger(m.chat_id)) openChat(m.chat_id, true); });
  // A link to one chat: `#chat-ID`, or `?chat=ID` from the notification emails.
  const linked = Number(new URLSearchParams(location.search).get('chat')) || Number((/^#chat-(\d+)$/.exec(location.hash) || [])[1]);
  if (linked) {
    history.replaceState({ chat: linked }, '', `${location.pathname}#chat-${linked}`);
    openChat(linked, false);
  }
  return ctx;
}

/** Status filter chips: All + the four statuses. */
export function statusChips(ctx, statuses = ['pending', 'open', 'escalated', 'closed'], labels = {}) {
  const names = { '': 'All', pending: 'Waiting', open: 'Open', escalated: 'Needs admin', closed: 'Closed', ...labels };
  const box = el('div', { class: 'chips', role: 'group', 'aria-label': 'Filter by status' });
  for (const s of ['', ...statuses]) {
    box.append(el('button', {
      type: 'button', class: 'chip', 'aria-pressed': String(s === ''), text: names[s],
      onclick: (e) => {
        for (const b of box.children) b.setAttribute('aria-pressed', String(b === e.currentTarget));
        ctx.filters.status = s || null;
        ctx.refresh();
      },
    }));
  }
  return box;
}

/** Client-side check of the status filter for live inserts. */
export const statusMatches = (s, f) => !f.status || s.status === f.status;

/** A tool bar button. */
export function tool(label, onclick, kind = 'ghost', ic) {
  return el('button', { type: 'button', class: `btn ${kind} small`, onclick }, ic ? icon(ic) : null, label);
}

// A message of files only, as the server previews it (chat_core::attachment::preview):
// "📎 A photo", "📎 2 photos and a PDF".
const NOUNS = { image: ['photo', 'photos'], pdf: ['PDF', 'PDFs'], audio: ['recording', 'recordings'], video: ['video', 'videos'] };
export function filesPreview(files) {
  const counts = new Map();
  for (const f of files) counts.set(f.kind, (counts.get(f.kind) || 0) + 1);
  const parts = [...counts].map(([k, n]) => {
    const [one, many] = NOUNS[k] || ['file', 'files'];
    return n === 1 ? `a ${one}` : `${n} ${many}`;
  });
  if (!parts.length) return '';
  const last = parts.pop();
  const s = parts.length ? `${parts.join(', ')} and ${last}` : last;
  return `📎 ${s[0].toUpperCase()}${s.slice(1)}`;
}

