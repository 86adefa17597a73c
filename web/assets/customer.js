// The customer panel: my chats (active and closed), new chats, the conversation.

import { startPanel, tool } from './panel.js';
import { el, statusPill } from './ui.js';

const name = (s) => s.topic || 'Support chat';
// What the status means to the customer (an escalation is the team's business).
const statusNames = { pending: 'Waiting for us', open: 'Open', escalated: 'Open', closed: 'Closed' };

startPanel({
  role: 'user',
  label: 'Support',
  title: 'My chats',
  heading: 'My chats',
  newChat: true,
  grouped: true,
  searchPlaceholder: 'Search my chats',
  listEmpty: 'No chats yet. Start one with “New chat”.',
  emptyTitle: 'How can we help?',
  emptyText: 'Open one of your chats, or start a new one. Our team answers here, and by email if you are away.',
  item: (s) => ({
    title: name(s),
    tags: [statusPill(s.status, statusNames), s.worker_name ? el('span', { class: 'tag', text: s.worker_name }) : null],
  }),
  convName: name,
  statusNames,
  convSubtitle: (s) => el('span', { class: 'muted', text: s.worker_name ? `with ${s.worker_name}` : 'Nati Automotive support' }),
  actions(s, box, ctx) {
    if (s.status !== 'closed') {
      box.append(tool('Mark resolved', () => ctx.act('/api/chat/close', { chat_id: s.chat_id }, 'Thanks! The chat is closed.'), 'ghost', 'check'));
    }
  },
  composer: (s) => (s.status === 'closed' ? { note: 'This chat is closed. Write a message to reopen it.' } : {}),
});
