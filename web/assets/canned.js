// Staff: typing /shortcut in the composer offers the canned replies (the team's and one's
// own). Loaded with the first keystroke in a staff panel, never in the widget.

import { api } from './api.js';
import { el } from './ui.js';

/** The team's canned replies and one's own, fetched at most once a minute. */
async function replies(view) {
  if (!view.cannedList || Date.now() - view.cannedAt > 60000) {
    try {
      view.cannedList = (await api.get('/api/chat/canned_replies')).replies;
      view.cannedAt = Date.now();
    } catch {
      view.cannedList = view.cannedList || [];
    }
  }
  return view.cannedList;
}

/** A canned reply's text with `{customer_name}` and `{worker_name}` filled in. */
function fill(view, text) {
  const customer = view.summary?.customer_name || 'there';
  return text.replaceAll('{customer_name}', customer).replaceAll('{worker_name}', view.me.name || '');
}

/** While the box holds only `/` and a shortcut's start, list the replies it matches. */
export async function update(view) {
  const typed = view.input.value;
  const m = /^\/([A-Za-z0-9_-]*)$/.exec(typed);
  if (!view.canned || !m) return view.closeSuggest();
  const all = await replies(view);
  if (view.input.value !== typed) return;
  const q = m[1].toLowerCase();
  view.suggestHits = all.filter((r) => r.shortcut.startsWith(q)).slice(0, 8);
  if (!view.suggestHits.length) return view.closeSuggest();
  view.suggest.replaceChildren(...view.suggestHits.map((r, i) => el('li', {
    role: 'option', id: `${view.suggest.id}-${i}`, 'aria-selected': 'false',
    onmousedown: (e) => { e.preventDefault(); use(view, i); },
  }, el('span', { class: 'sc', text: `/${r.shortcut}` }),
    r.shared ? el('span', { class: 'tag', text: 'team' }) : null,
    el('span', { class: 'pv', text: fill(view, r.text) }))));
  view.suggest.hidden = false;
  pick(view, 0);
}

function pick(view, i) {
  view.suggestAt = i;
  [...view.suggest.children].forEach((li, j) => li.setAttribute('aria-selected', String(j === i)));
  view.input.setAttribute('aria-activedescendant', `${view.suggest.id}-${i}`);
  view.suggest.children[i]?.scrollIntoView({ block: 'nearest' });
}

function use(view, i) {
  const r = view.suggestHits[i];
  if (!r) return;
  view.input.value = fill(view, r.text);
  view.closeSuggest();
  view.onInput();
  view.input.focus();
  view.input.setSelectionRange(view.input.value.length, view.input.value.length);
}

/** Arrows, Enter/Tab and Escape while the list is open; true when the key was used. */
export function key(view, e) {
  const n = view.suggestHits.length;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    pick(view, (view.suggestAt + (e.key === 'ArrowDown' ? 1 : n - 1)) % n);
    return true;
  }
  if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
    e.preventDefault();
    use(view, view.suggestAt);
    return true;
  }
  if (e.key === 'Escape') {
    e.preventDefault();
    view.closeSuggest();
    return true;
  }
  return false;
}
