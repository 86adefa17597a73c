// "How did we do?": a closed chat's rating form (1-5 stars as one radio group, an optional
// comment), loaded by the chat view only when a closed, unrated chat is shown.

import { api } from './api.js';
import { el, uid } from './ui.js';

/** The form for chat `s`; `done(stars)` once the rating is stored. */
export function ratingForm(s, done) {
  const name = `stars-${uid()}`;
  const stars = [1, 2, 3, 4, 5].map((n) => el('label', { class: 'star', title: `${n} of 5` },
    el('input', { type: 'radio', name, value: String(n), 'aria-label': `${n} ${n === 1 ? 'star' : 'stars'}` }),
    el('span', { 'aria-hidden': 'true', text: '★' })));
  const comment = el('textarea', { class: 'rate-comment', rows: 2, maxlength: '1000', id: `rate-c-${uid()}` });
  const error = el('p', { class: 'rate-error', role: 'alert', hidden: true });
  const send = el('button', { class: 'btn primary small', type: 'submit', text: 'Send rating' });
  const form = el('form', { class: 'rate-form', onsubmit: async (e) => {
    e.preventDefault();
    const picked = form.querySelector('input[type=radio]:checked');
    if (!picked) { error.hidden = false; error.textContent = 'Choose 1 to 5 stars.'; return; }
    send.disabled = true;
    error.hidden = true;
    try {
      const r = await api.post('/api/chat/rate', { chat_id: s.chat_id, stars: Number(picked.value), comment: comment.value.trim() || null });
      done(r.rating.stars);
    } catch (err) {
      send.disabled = false;
      error.hidden = false;
      error.textContent = err.status === 409 && /already/.test(err.message) ? 'This chat has already been rated. Thank you!' : `Could not send the rating: ${err.message}`;
    }
  } },
  el('fieldset', { class: 'rate-stars' }, el('legend', { text: 'How did we do?' }), ...stars),
  el('label', { class: 'rate-label', for: comment.id, text: 'Anything to add? (optional)' }), comment, error, send);
  // The stars light up to the one chosen.
  form.addEventListener('change', () => {
    const v = Number(form.querySelector('input[type=radio]:checked')?.value || 0);
    if (v) error.hidden = true;
    stars.forEach((l, i) => l.classList.toggle('on', i < v));
  });
  return form;
}
