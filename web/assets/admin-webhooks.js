// The admin panel's Webhooks tab: the configured endpoints with their delivery counts,
// and the delivery log (status, attempts, last answer or error, next attempt), with
// "Retry now" for deliveries that were given up. Every value is set as text, never HTML.

import { api } from './api.js';
import { tool } from './panel.js';
import { el, toast, timeEl } from './ui.js';

const tag = (text, cls = '') => el('span', { class: `tag ${cls}`, text });
const STATUS_CLASS = { delivered: 'ok', failed: 'off', pending: 'warn', sending: 'warn', cancelled: '' };

export function webhooksTab(box) {
  let status = '';
  const endpointsEl = el('ul', { class: 'acct-list', 'aria-label': 'Webhook endpoints' });
  const listEl = el('ul', { class: 'acct-list', 'aria-label': 'Webhook deliveries' });
  const chips = el('div', { class: 'chips', role: 'group', 'aria-label': 'Status' });
  for (const [s, label] of [['', 'All'], ['pending', 'Pending'], ['delivered', 'Delivered'], ['failed', 'Failed'], ['cancelled', 'Cancelled']]) {
    chips.append(el('button', {
      type: 'button', class: 'chip', 'aria-pressed': String(s === status), text: label,
      onclick: (e) => { status = s; for (const b of chips.children) b.setAttribute('aria-pressed', String(b === e.currentTarget)); load(); },
    }));
  }
  const endpointRow = (e) => el('li', { class: 'acct' },
    el('div', { class: 'acct-main' }, el('strong', { text: e.name }), el('span', { class: 'muted', text: e.url || 'no longer configured' })),
    el('div', { class: 'acct-tags' },
      tag(e.events.length ? e.events.join(', ') : 'all events'),
      tag(`${e.counts.delivered || 0} delivered`, 'ok'),
      tag(`${(e.counts.pending || 0) + (e.counts.sending || 0)} waiting`, 'warn'),
      tag(`${e.counts.failed || 0} failed`, e.counts.failed ? 'off' : '')));
  const deliveryRow = (d) => el('li', { class: 'acct' },
    el('div', { class: 'acct-main' },
      el('strong', { text: `${d.type}${d.chat_id != null ? ` · chat ${d.chat_id}` : ''}` }),
      el('span', { class: 'muted', text: `${d.endpoint} · ${d.webhook_id}` }),
      d.last_error ? el('span', { class: 'muted', text: `Last error: ${d.last_error}` }) : null),
    el('div', { class: 'acct-tags' },
      tag(d.status, STATUS_CLASS[d.status] || ''),
      tag(`${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`),
      d.last_status_code != null ? tag(`HTTP ${d.last_status_code}`) : null,
      d.delivered_at ? el('small', { class: 'muted' }, 'delivered ', timeEl(d.delivered_at))
        : d.status === 'pending' ? el('small', { class: 'muted' }, 'next try ', timeEl(d.next_attempt_at)) : null),
    d.status === 'failed' ? tool('Retry now', () => retry(d)) : null);
  const retry = async (d) => {
    try {
      await api.post('/api/admin/webhooks/deliveries/retry', { id: d.id });
      toast('Queued again.', 'ok');
      load();
    } catch (e) {
      toast(e.message, 'error');
    }
  };
  const load = async () => {
    try {
      const [eps, log] = await Promise.all([
        api.get('/api/admin/webhooks'),
        api.get(`/api/admin/webhooks/deliveries?limit=100${status ? `&status=${encodeURIComponent(status)}` : ''}`),
      ]);
      endpointsEl.replaceChildren(...(eps.endpoints.length ? eps.endpoints.map(endpointRow)
        : [el('li', { class: 'muted list-empty', text: 'No webhook endpoints are configured (see docs/webhooks.md).' })]));
      listEl.replaceChildren(...(log.deliveries.length ? log.deliveries.map(deliveryRow)
        : [el('li', { class: 'muted list-empty', text: 'No deliveries here.' })]));
    } catch (e) {
      toast(`Could not load webhooks: ${e.message}`, 'error');
    }
  };
  box.append(el('div', { class: 'page' },
    el('div', { class: 'page-head' }, el('h1', { text: 'Webhooks' }), tool('Refresh', load)),
    el('p', { class: 'muted', text: 'Chat events sent to your site, signed, retried for a day. Endpoints are set in the server settings.' }),
    endpointsEl,
    el('h2', { text: 'Deliveries' }),
    chips, listEl));
  load();
}
