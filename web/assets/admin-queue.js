// The admin panel's Queue tab: how chats are assigned (manual, round robin or least busy,
// and each worker's capacity), the workers with their availability and open chats, and
// the waiting chats, oldest first, with how long each has waited. Every value is set as
// text, never HTML.

import { api } from './api.js';
import { tool } from './panel.js';
import { el, toast, field } from './ui.js';

const tag = (text, cls = '') => el('span', { class: `tag ${cls}`, text });
const MODES = [
  ['manual', 'Manual: an admin assigns every chat'],
  ['round_robin', 'Round robin: the next available worker in turn'],
  ['least_busy', 'Least busy: the available worker with the fewest open chats'],
];

function waited(secs) {
  if (secs < 60) return 'waiting less than a minute';
  const m = Math.floor(secs / 60);
  if (m < 60) return `waiting ${m} min`;
  const h = Math.floor(m / 60);
  return `waiting ${h} h ${m % 60} min`;
}

export function queueTab(box) {
  const mode = el('select', { name: 'mode' }, ...MODES.map(([v, label]) => el('option', { value: v, text: label })));
  const capacity = el('input', { name: 'capacity', type: 'number', min: '1', max: '50', step: '1', required: true, inputmode: 'numeric' });
  const mayTake = el('input', { type: 'checkbox', name: 'workers_may_take' });
  const silence = el('input', { name: 'silence', type: 'number', min: '0', max: '1440', step: '1', required: true, inputmode: 'numeric' });
  const target = el('select', { name: 'on_silence' },
    el('option', { value: 'queue', text: 'Back to the queue' }), el('option', { value: 'admins', text: 'To the admins (needs admin)' }));
  const form = el('form', { class: 'routing-form', onsubmit: (e) => { e.preventDefault(); save(); } },
    field('Assign new chats', mode),
    field('Open chats per worker', capacity, 'Automatic assignment stops at this many; you can still assign more by hand.'),
    field('Take a chat back after (minutes without an answer)', silence, 'When the assigned worker has not answered the customer for this long. 0: never.'),
    field('A chat taken back goes', target),
    el('label', { class: 'check' }, mayTake, el('span', { text: 'Workers may take waiting chats themselves (within their capacity)' })),
    el('button', { class: 'btn primary', type: 'submit', text: 'Save' }));
  const workersEl = el('ul', { class: 'acct-list', 'aria-label': 'Workers' });
  const queueEl = el('ul', { class: 'acct-list', 'aria-label': 'Waiting chats' });
  const render = (v) => {
    mode.value = v.settings.mode;
    capacity.value = String(v.settings.capacity);
    silence.value = String(Math.round((v.settings.silence_secs || 0) / 60));
    target.value = v.settings.on_silence || 'queue';
    mayTake.checked = !!v.settings.workers_may_take;
    const own = v.settings.capacities || {};
    workersEl.replaceChildren(...(v.workers.length ? v.workers.map((w) => el('li', { class: 'acct' },
      el('div', { class: 'acct-main' }, el('strong', { text: w.name })),
      el('div', { class: 'acct-tags' },
        w.available ? tag('Available', 'ok') : tag('Offline or away'),
        tag(`${w.open_chats} of ${w.capacity} open`, w.open_chats >= w.capacity ? 'warn' : ''),
        el('input', {
          class: 'cap-input', type: 'number', min: '0', max: '50', step: '1', inputmode: 'numeric', 'data-worker': String(w.worker_id),
          value: own[w.worker_id] != null ? String(own[w.worker_id]) : '', placeholder: String(v.settings.capacity),
          'aria-label': `Own capacity of ${w.name} (empty: the default)`,
        }))))
      : [el('li', { class: 'muted list-empty', text: 'No active workers.' })]));
    queueEl.replaceChildren(...(v.queue.length ? v.queue.map((q) => el('li', { class: 'acct' },
      el('div', { class: 'acct-main' }, el('strong', { text: q.topic || `Chat ${q.chat_id}` }),
        el('span', { class: 'muted', text: waited(q.waiting_secs) })),
      el('a', { class: 'btn small', href: `/admin?chat=${q.chat_id}`, text: 'Open' })))
      : [el('li', { class: 'muted list-empty', text: 'Nobody is waiting.' })]));
  };
  const load = async () => {
    try {
      render(await api.get('/api/admin/routing'));
    } catch (e) {
      toast(`Could not load the queue: ${e.message}`, 'error');
    }
  };
  const save = async () => {
    try {
      const capacities = {};
      for (const i of workersEl.querySelectorAll('input[data-worker]')) if (i.value !== '') capacities[i.dataset.worker] = Number(i.value);
      render(await api.put('/api/admin/routing', {
        capacities,
        mode: mode.value, capacity: Number(capacity.value), silence_secs: Number(silence.value) * 60, on_silence: target.value, workers_may_take: mayTake.checked,
      }));
      toast('Saved.', 'ok');
    } catch (e) {
      toast(e.message, 'error');
    }
  };
  const page = el('div', { class: 'page' },
    el('div', { class: 'page-head' }, el('h1', { text: 'Queue' }), tool('Refresh', load)),
    el('p', { class: 'muted', text: 'Chats without a worker wait here, oldest first. With automatic assignment, available workers (a panel open, not Away) get them up to their capacity.' }),
    form,
    el('h2', { text: 'Workers' }),
    el('p', { class: 'muted', text: 'A worker\u2019s own capacity, if set, replaces the one above for them (0: no chats automatically). Saved with Save.' }),
    workersEl,
    el('h2', { text: 'Waiting chats' }), queueEl);
  box.append(page);
  load();
  // Fresh while shown; stops once the tab is left (its page is replaced).
  const timer = setInterval(() => { if (!page.isConnected) clearInterval(timer); else if (!document.hidden) load(); }, 5000);
}
