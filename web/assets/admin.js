// The admin panel: every chat (filters, search), assignment, close/reopen/escalations,
// account management and the webhook delivery log.

import { api } from './api.js';
import { framed, hostSignIn } from './embed.js';
import { webhooksTab } from './admin-webhooks.js';
import { queueTab } from './admin-queue.js';
import { reportsTab } from './admin-reports.js';
import { startPanel, statusChips, tool } from './panel.js';
import { el, icon, avatar, modal, field, statusPill, toast, timeEl } from './ui.js';

const tag = (text, cls = '') => el('span', { class: `tag ${cls}`, text });
let accounts = [];
const workers = () => accounts.filter((a) => a.role === 'worker' && a.active);

async function loadAccounts() {
  try {
    accounts = (await api.get('/api/admin/accounts')).accounts;
  } catch (e) {
    toast(`Could not load accounts: ${e.message}`, 'error');
  }
  for (const fn of onAccounts) fn();
}
const onAccounts = [];

function filterBar(ctx) {
  const f = ctx.filters;
  const worker = el('select', { 'aria-label': 'Worker' });
  const user = el('select', { 'aria-label': 'Customer account' });
  const guest = el('input', { type: 'number', min: '1', inputmode: 'numeric', placeholder: 'Guest #', 'aria-label': 'Guest number' });
  const fill = () => {
    const wv = worker.value;
    const uv = user.value;
    worker.replaceChildren(el('option', { value: '', text: 'Any worker' }), el('option', { value: 'none', text: 'Unassigned' }),
      ...accounts.filter((a) => a.role === 'worker').map((a) => el('option', { value: String(a.id), text: a.name })));
    user.replaceChildren(el('option', { value: '', text: 'Any customer' }),
      ...accounts.filter((a) => a.role === 'user').map((a) => el('option', { value: String(a.id), text: `${a.name} (${a.email})` })));
    worker.value = wv;
    user.value = uv;
  };
  onAccounts.push(fill);
  fill();
  const count = el('span', { class: 'badge soft', hidden: true });
  const apply = () => {
    f.worker_id = /^\d+$/.test(worker.value) ? Number(worker.value) : null;
    f.unassigned = worker.value === 'none' ? true : null;
    f.user_id = user.value ? Number(user.value) : null;
    f.guest_id = guest.value ? Number(guest.value) : null;
    const n = [f.worker_id || f.unassigned, f.user_id, f.guest_id].filter(Boolean).length;
    count.hidden = !n;
    count.textContent = String(n);
    ctx.refresh();
  };
  worker.addEventListener('change', apply);
  user.addEventListener('change', apply);
  guest.addEventListener('change', apply);
  const clear = el('button', { type: 'button', class: 'link', text: 'Clear', onclick: () => { worker.value = ''; user.value = ''; guest.value = ''; apply(); } });
  const more = el('div', { class: 'more-filters', hidden: true }, worker, user, el('div', { class: 'row2' }, guest, clear));
  const toggle = el('button', {
    type: 'button', class: 'chip', 'aria-expanded': 'false', 'aria-label': 'More filters',
    onclick: () => { more.hidden = !more.hidden; toggle.setAttribute('aria-expanded', String(!more.hidden)); },
  }, icon('filter'), 'Filters', count);
  // Lets "this customer's chats" set the customer filter from the conversation.
  ctx.filterBy = (s) => {
    worker.value = '';
    user.value = s.user_id ? String(s.user_id) : '';
    guest.value = s.guest_id ? String(s.guest_id) : '';
    more.hidden = false;
    apply();
  };
  const chips = statusChips(ctx);
  chips.append(toggle);
  return el('div', { class: 'filters' }, chips, more);
}

function matches(s, f) {
  if (f.status && s.status !== f.status) return false;
  if (f.worker_id && s.worker_id !== f.worker_id) return false;
  if (f.unassigned && s.worker_id) return false;
  if (f.user_id && s.user_id !== f.user_id) return false;
  if (f.guest_id && s.guest_id !== f.guest_id) return false;
  return true;
}

function actions(s, box, ctx) {
  const id = s.chat_id;
  if (s.status !== 'closed') {
    const sel = el('select', { class: 'small', 'aria-label': 'Worker to assign' },
      el('option', { value: '', text: s.worker_id ? 'Reassign to…' : 'Assign to…' }),
      workers().filter((w) => w.id !== s.worker_id).map((w) => el('option', { value: String(w.id), text: w.name })));
    const go = tool(s.worker_id ? 'Reassign' : 'Assign', async () => {
      if (!sel.value) return sel.focus();
      const w = workers().find((x) => x.id === Number(sel.value));
      await ctx.act('/api/chat/assign_worker', { chat_id: id, worker_id: Number(sel.value) }, `Assigned to ${w ? w.name : 'the worker'}.`);
    }, 'primary');
    box.append(el('div', { class: 'assign' }, sel, go));
    if (s.worker_id) box.append(tool('Unassign', () => ctx.act('/api/chat/unassign', { chat_id: id }, 'Worker taken off the chat.')));
    // An admin's own chat: no worker, assigned by them (it is out of the queue).
    const mine = !s.worker_id && s.assigned_by === ctx.me.id;
    if (mine) box.append(tool('Back to the queue', () => ctx.act('/api/chat/unassign', { chat_id: id }, 'Back in the queue.')));
    else box.append(tool('Assign to me', () => ctx.act('/api/chat/assign_to_me', { chat_id: id }, 'The chat is yours.')));
    if (s.status === 'escalated') box.append(tool('Hand back', () => ctx.act('/api/chat/reopen', { chat_id: id }, 'Escalation handled.'), 'ghost', 'check'));
    box.append(tool('Close', () => ctx.act('/api/chat/close', { chat_id: id }, 'Chat closed.'), 'ghost', 'close'));
  } else {
    box.append(tool('Reopen', () => ctx.act('/api/chat/reopen', { chat_id: id }, 'Chat reopened.'), 'primary'));
  }
  box.append(tool(s.customer_verified ? 'Customer’s chats' : 'Guest’s chats', () => ctx.filterBy?.(s), 'ghost', 'users'));
}

function accountsTab(box) {
  let role = 'worker';
  const listEl = el('ul', { class: 'acct-list', 'aria-label': 'Accounts' });
  const chips = el('div', { class: 'chips', role: 'group', 'aria-label': 'Role' });
  for (const [r, label] of [['worker', 'Workers'], ['user', 'Customers'], ['admin', 'Admins'], ['', 'All']]) {
    chips.append(el('button', {
      type: 'button', class: 'chip', 'aria-pressed': String(r === role), text: label,
      onclick: (e) => { role = r; for (const b of chips.children) b.setAttribute('aria-pressed', String(b === e.currentTarget)); render(); },
    }));
  }
  const render = () => {
    const rows = accounts.filter((a) => !role || a.role === role);
    listEl.replaceChildren(...(rows.length ? rows.map(row) : [el('li', { class: 'muted list-empty', text: 'No accounts here yet.' })]));
  };
  const row = (a) => el('li', { class: `acct${a.active ? '' : ' off'}` }, avatar(a.name),
    el('div', { class: 'acct-main' }, el('strong', { text: a.name }), el('span', { class: 'muted', text: a.email })),
    el('div', { class: 'acct-tags' }, tag(a.role), a.source === 'host' ? tag('Verified by the site', 'ok') : null, a.active ? tag('Active', 'ok') : tag('Deactivated', 'off'),
      el('small', { class: 'muted' }, 'added ', timeEl(a.created_at))),
    a.role === 'admin' && a.id === window.natiMe?.id ? el('span', { class: 'muted small', text: 'You' })
      : a.active
        ? tool('Deactivate', async () => {
          const ok = await modal(`Deactivate ${a.name}?`, [], 'Deactivate', 'They are signed out at once and cannot sign in until reactivated. Their chats stay.');
          if (ok) setActive(a, false);
        }, 'danger')
        : tool('Activate', () => setActive(a, true)));
  const setActive = async (a, active) => {
    try {
      await api.post(`/api/admin/accounts/${active ? 'activate' : 'deactivate'}`, { role: a.role, id: a.id });
      toast(`${a.name} ${active ? 'reactivated' : 'deactivated'}.`, 'ok');
      await loadAccounts();
    } catch (e) {
      toast(e.message, 'error');
    }
  };
  const create = async () => {
    const r = el('select', { name: 'role' }, ['worker', 'user', 'admin'].map((x) => el('option', { value: x, text: { worker: 'Worker', user: 'Customer', admin: 'Admin' }[x], selected: x === (role || 'worker') })));
    const v = await modal('New account', [
      field('Role', r),
      field('Name', el('input', { name: 'name', required: true, maxlength: '100', autocomplete: 'off' })),
      field('Email', el('input', { name: 'email', type: 'email', required: true, autocomplete: 'off' })),
      field('Password', el('input', { name: 'password', type: 'password', required: true, minlength: '8', autocomplete: 'new-password' }), 'At least 8 characters. Share it with them safely.'),
    ], 'Create account');
    if (!v) return;
    try {
      const res = await api.post('/api/admin/accounts', v);
      toast(`${res.account.name} can now sign in.`, 'ok');
      await loadAccounts();
    } catch (e) {
      toast(e.message, 'error');
    }
  };
  onAccounts.push(() => { if (listEl.isConnected) render(); });
  box.append(el('div', { class: 'page' },
    el('div', { class: 'page-head' }, el('h1', { text: 'Accounts' }), tool('New account', create, 'primary', 'plus')),
    el('p', { class: 'muted', text: 'Workers answer the chats you assign them; customers sign in to chat with you.' }),
    chips, listEl));
  render();
  loadAccounts();
}

/** Whether the customer is a person the site signed in, or an anonymous guest. */
function customerTag(s) {
  if (s.customer_host_id) return tag('Verified by the site', 'ok');
  return s.customer_verified ? null : tag('Guest');
}

/** Server-to-server API keys for the host site's back end (docs/integration.md). */
function keysTab(box) {
  const listEl = el('ul', { class: 'acct-list', 'aria-label': 'API keys' });
  const SCOPES = [['unread:read', 'Read unread counts'], ['chats:read', 'Read recent chats'], ['accounts:write', 'Create and deactivate accounts']];
  const load = async () => {
    try {
      const keys = (await api.get('/api/admin/api-keys')).api_keys;
      listEl.replaceChildren(...(keys.length ? keys.map(row) : [el('li', { class: 'muted list-empty', text: 'No API keys yet.' })]));
    } catch (e) { toast(e.message, 'error'); }
  };
  const row = (k) => el('li', { class: `acct${k.revoked_at ? ' off' : ''}` },
    el('div', { class: 'acct-main' }, el('strong', { text: k.name }), el('span', { class: 'muted', text: `${k.prefix}… · ${k.scopes.join(', ')}` })),
    el('div', { class: 'acct-tags' }, k.revoked_at ? tag('Revoked', 'off') : tag('Active', 'ok'), el('small', { class: 'muted' }, 'added ', timeEl(k.created_at))),
    k.revoked_at ? null : tool('Revoke', async () => {
      const ok = await modal(`Revoke ${k.name}?`, [], 'Revoke', 'Requests with this key are refused from now on. This cannot be undone.');
      if (!ok) return;
      try { await api.post('/api/admin/api-keys/revoke', { id: k.id }); toast(`${k.name} revoked.`, 'ok'); load(); } catch (e) { toast(e.message, 'error'); }
    }, 'danger'));
  const create = async () => {
    const boxes = SCOPES.map(([v, label]) => el('label', { class: 'check' }, el('input', { type: 'checkbox', name: v, value: '1' }), ` ${label} (${v})`));
    const v = await modal('New API key', [field('Name', el('input', { name: 'name', required: true, maxlength: '100', autocomplete: 'off', placeholder: 'Shop back end' })), ...boxes], 'Create key');
    if (!v) return;
    try {
      const res = await api.post('/api/admin/api-keys', { name: v.name, scopes: SCOPES.map(([s]) => s).filter((s) => v[s]) });
      await modal('Copy the key now', [el('input', { class: 'mono', readonly: true, value: res.key, 'aria-label': 'API key', onfocus: (e) => e.target.select() })], 'Done',
        'It is shown this once; the server keeps only its hash. Send it as Authorization: Bearer from your back end.');
      load();
    } catch (e) { toast(e.message, 'error'); }
  };
  box.append(el('div', { class: 'page' },
    el('div', { class: 'page-head' }, el('h1', { text: 'API keys' }), tool('New key', create, 'primary', 'plus')),
    el('p', { class: 'muted', text: 'Your site’s back end uses a key to read unread counts for its own bell and to manage accounts by its ids.' }),
    listEl));
  load();
}

(async () => {
  let me = await api.get('/api/me').catch(() => null);
  // Framed by the host site: its page signs the admin in (docs/integration.md).
  if (!me && framed && await hostSignIn()) me = await api.get('/api/me').catch(() => null);
  window.natiMe = me;
  if (me && me.role === 'admin') await loadAccounts();
  startPanel({
    role: 'admin',
    label: 'Admin',
    title: 'Support inbox',
    heading: 'Inbox',
    searchPlaceholder: 'Search names, emails, topics, messages',
    listEmpty: 'No chats match.',
    filterBar,
    listQuery: (f) => ({ status: f.status, worker_id: f.worker_id, unassigned: f.unassigned, user_id: f.user_id, guest_id: f.guest_id }),
    matches,
    item: (s) => ({
      title: s.customer_name,
      tags: [statusPill(s.status), s.worker_name ? tag(s.worker_name) : s.assigned_by ? tag('Taken by an admin') : tag('Unassigned', 'warn'), customerTag(s), s.topic ? tag(s.topic, 'topic') : null,
        s.rating ? tag(`Rated ${s.rating}/5`, 'rating') : null],
    }),
    convSubtitle: (s) => el('span', { class: 'muted', text: [s.worker_name ? `Assigned to ${s.worker_name}` : s.assigned_by ? 'Taken by an admin' : 'Unassigned', s.topic, s.customer_host_id ? `Verified by the site · ${s.customer_email}` : s.customer_verified ? s.customer_email : `Anonymous guest${s.customer_email ? ` · ${s.customer_email}` : ''}`].filter(Boolean).join(' · ') }),
    actions,
    composer: (s) => (s.status === 'closed' ? { disabled: true, note: 'This chat is closed. Reopen it to answer.' }
      : s.status === 'escalated' ? { note: 'A worker asked for an admin. Your answer hands the chat back.' } : {}),
    tabs: [{ id: 'queue', label: 'Queue', mount: queueTab }, { id: 'reports', label: 'Reports', mount: reportsTab },
      { id: 'accounts', label: 'Accounts', mount: accountsTab }, { id: 'keys', label: 'API keys', mount: keysTab },
      { id: 'webhooks', label: 'Webhooks', mount: webhooksTab }],
  });
})();
