// The worker panel: assigned chats, answering, "mark resolved" and "need admin".

import { startPanel, statusChips, statusMatches, tool } from './panel.js';
import { api } from './api.js';
import { el, modal, field, statusPill, icon, toast } from './ui.js';

const tag = (text) => el('span', { class: 'tag', text });

/** "Waiting chats": the queue, shown only when admins let workers take chats. */
function queueButton(ctx) {
  const btn = el('button', { class: 'btn small waiting-btn', type: 'button', hidden: true, onclick: () => show() }, 'Waiting chats');
  const mins = (s) => (s < 60 ? 'less than a minute' : `${Math.floor(s / 60)} min`);
  async function peek() {
    try {
      const r = await api.get('/api/chat/queue');
      btn.hidden = !r.workers_may_take;
      btn.textContent = `Waiting chats (${r.queue.length})`;
      return r;
    } catch {
      btn.hidden = true;
      return null;
    }
  }
  async function show() {
    const r = await peek();
    if (!r) return;
    const list = el('ul', { class: 'acct-list', 'aria-label': 'Waiting chats' });
    const d = el('dialog', { class: 'dlg', 'aria-label': 'Waiting chats' },
      el('div', { class: 'dlg-head' }, el('h2', { text: 'Waiting chats' }),
        el('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => d.close() }, icon('close'))),
      list);
    list.replaceChildren(...(r.queue.length ? r.queue.map((q) => el('li', { class: 'acct' },
      el('div', { class: 'acct-main' }, el('strong', { text: q.topic || `Chat ${q.chat_id}` }),
        el('span', { class: 'muted', text: `waiting ${mins(q.waiting_secs)}` })),
      el('button', { class: 'btn primary small', type: 'button', text: 'Take', 'aria-label': `Take ${q.topic || `chat ${q.chat_id}`}`,
        onclick: async () => {
          try {
            const t = await api.post('/api/chat/take', { chat_id: q.chat_id });
            d.close();
            ctx.upsert(t.chat);
            ctx.open(q.chat_id);
            toast('The chat is yours.', 'ok');
          } catch (e) {
            toast(e.message, 'error');
            show();
          }
        } })))
      : [el('li', { class: 'muted list-empty', text: 'Nobody is waiting.' })]));
    d.addEventListener('close', () => d.remove());
    document.body.append(d);
    d.showModal();
    peek();
  }
  peek();
  setInterval(() => { if (!document.hidden) peek(); }, 15000);
  return btn;
}

startPanel({
  role: 'worker',
  label: 'Workshop',
  title: 'My chats',
  heading: 'My chats',
  listEmpty: 'No chats assigned to you yet. An admin assigns them; they appear here at once.',
  emptyText: 'Chats an admin assigns to you appear on the left, live.',
  filterBar: (ctx) => el('div', { class: 'worker-bar' }, statusChips(ctx), queueButton(ctx)),
  listQuery: (f) => ({ status: f.status }),
  matches: statusMatches,
  item: (s) => ({
    title: s.customer_name,
    tags: [statusPill(s.status), s.customer_host_id ? tag('Verified by the site', 'ok') : s.customer_verified ? null : tag('Guest'), s.topic ? tag(s.topic) : null,
      s.rating ? tag(`Rated ${s.rating}/5`) : null],
  }),
  convSubtitle: (s) => el('span', { class: 'muted', text: [s.topic, s.customer_host_id ? 'Verified by the site' : s.customer_verified ? 'Customer' : 'Anonymous guest', s.customer_email].filter(Boolean).join(' · ') }),
  actions(s, box, ctx) {
    const id = s.chat_id;
    if (s.status !== 'closed') {
      box.append(tool('Mark resolved', () => ctx.act('/api/chat/close', { chat_id: id }, 'Marked as resolved.'), 'ghost', 'check'));
    }
    if (s.status === 'pending' || s.status === 'open') {
      box.append(tool('Need admin', async () => {
        const reason = el('textarea', { name: 'reason', rows: 3, maxlength: '500' });
        const v = await modal('Ask an admin for help', [field('What do you need?', reason, 'Optional. Kept as a private note: admins see it, the customer does not.')], 'Ask an admin');
        if (v) ctx.act('/api/chat/escalate', { chat_id: id, reason: v.reason.trim() || null }, 'An admin has been asked to help.');
      }, 'ghost', 'alert'));
    }
    if (s.status === 'closed') box.append(tool('Reopen', () => ctx.act('/api/chat/reopen', { chat_id: id }, 'Chat reopened.'), 'primary'));
  },
  composer: (s) => (s.status === 'closed'
    ? { disabled: true, note: 'This chat is resolved. Reopen it to answer.' }
    : s.status === 'escalated' ? { note: 'Waiting for an admin. You can still answer the customer.' } : {}),
});
