// The worker panel: assigned chats, answering, "mark resolved" and "need admin".

import { startPanel, statusChips, statusMatches, tool } from './panel.js';
import { el, modal, field, statusPill } from './ui.js';

const tag = (text) => el('span', { class: 'tag', text });

startPanel({
  role: 'worker',
  label: 'Workshop',
  title: 'My chats',
  heading: 'My chats',
  listEmpty: 'No chats assigned to you yet. An admin assigns them; they appear here at once.',
  emptyText: 'Chats an admin assigns to you appear on the left, live.',
  filterBar: (ctx) => statusChips(ctx),
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
