// The admin panel's Reports tab: for a period, per day and per worker, the chats started,
// how fast they were first answered and resolved (median and 90th percentile), chats
// taken from silent workers and the average rating; bar charts of the days, tables of the
// same numbers (the charts are pictures of the tables), and the CSV. Text only, never HTML.

import { api } from './api.js';
import { el, field, toast } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...kids) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
  for (const k of kids) if (k != null) n.append(k);
  return n;
}

/** Seconds as "45 s", "12 min", "3.5 h"; empty for none. */
export function dur(s) {
  if (s == null) return '—';
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** A bar chart of one number per day; its label says what the table below says. */
function bars(title, days, value, label) {
  const w = 640;
  const h = 160;
  const pad = 24;
  const max = Math.max(1, ...days.map((d) => value(d) || 0));
  const bw = (w - pad) / Math.max(1, days.length);
  const g = svg('g');
  days.forEach((d, i) => {
    const v = value(d) || 0;
    const bh = Math.round((h - pad - 16) * (v / max));
    const x = pad + i * bw + bw * 0.15;
    g.append(svg('rect', { x, y: h - pad - bh, width: Math.max(2, bw * 0.7), height: bh, rx: 3, class: 'bar' }));
    if (days.length <= 31) {
      g.append(svg('text', { x: x + bw * 0.35, y: h - pad + 14, 'text-anchor': 'middle', class: 'axis' }, d.day.slice(5)));
      if (v) g.append(svg('text', { x: x + bw * 0.35, y: h - pad - bh - 4, 'text-anchor': 'middle', class: 'val' }, label(d)));
    }
  });
  return el('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': `${title}, per day (the table below has the numbers)` },
      svg('line', { x1: pad, y1: h - pad, x2: w, y2: h - pad, class: 'base' }), g),
    el('figcaption', { text: title }));
}

const COLS = [
  ['Chats', (r) => String(r.chats)],
  ['Answered', (r) => String(r.answered)],
  ['First answer (median / p90)', (r) => `${dur(r.first_response_median_secs)} / ${dur(r.first_response_p90_secs)}`],
  ['Resolved', (r) => String(r.resolved)],
  ['Resolution (median / p90)', (r) => `${dur(r.resolution_median_secs)} / ${dur(r.resolution_p90_secs)}`],
  ['Taken back (silent)', (r) => String(r.silence_reassignments)],
  ['Rating', (r) => (r.average_rating == null ? '—' : `${r.average_rating.toFixed(2)} (${r.ratings})`)],
];

function table(caption, first, rows) {
  return el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    el('table', { class: 'report' },
      el('caption', { text: caption }),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: first }), ...COLS.map(([h]) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, ...(rows.length ? rows.map(([name, r]) => el('tr', {}, el('th', { scope: 'row', text: name }), ...COLS.map(([, f]) => el('td', { text: f(r) }))))
        : [el('tr', {}, el('td', { colspan: String(COLS.length + 1), class: 'muted', text: 'Nothing in this period.' }))]))));
}

export function reportsTab(box) {
  const iso = (d) => d.toISOString().slice(0, 10);
  const today = new Date();
  const from = el('input', { type: 'date', name: 'from', value: iso(new Date(today.getTime() - 6 * 864e5)), required: true });
  const to = el('input', { type: 'date', name: 'to', value: iso(today), required: true });
  const csv = el('a', { class: 'btn', text: 'Download CSV', download: '' });
  const out = el('div', { class: 'report-out', 'aria-live': 'polite' });
  const load = async () => {
    const q = { from: from.value, to: to.value };
    csv.href = `/api/admin/reports?${new URLSearchParams({ ...q, format: 'csv' })}`;
    try {
      const r = await api.get('/api/admin/reports', q);
      const t = r.total;
      out.replaceChildren(
        el('div', { class: 'kpis' },
          ...[['Chats', String(t.chats)], ['First answer, median', dur(t.first_response_median_secs)],
            ['Resolution, median', dur(t.resolution_median_secs)], ['Taken back (silent)', String(t.silence_reassignments)],
            ['Average rating', t.average_rating == null ? '—' : t.average_rating.toFixed(2)]]
            .map(([k, v]) => el('div', { class: 'kpi' }, el('span', { class: 'kpi-v', text: v }), el('span', { class: 'kpi-k', text: k })))),
        el('div', { class: 'charts' },
          bars('Chats started', r.days, (d) => d.chats, (d) => String(d.chats)),
          bars('First answer, median', r.days, (d) => d.first_response_median_secs, (d) => dur(d.first_response_median_secs))),
        table('Per worker', 'Worker', r.workers.map((w) => [w.name, w])),
        table('Per day', 'Day', r.days.map((d) => [d.day, d])));
    } catch (e) {
      toast(`Could not load the report: ${e.message}`, 'error');
    }
  };
  box.append(el('div', { class: 'page' },
    el('div', { class: 'page-head' }, el('h1', { text: 'Reports' }), csv),
    el('p', { class: 'muted', text: 'Chats started in the period (UTC days). A worker\u2019s row counts the chats they have now; "taken back" counts chats taken from them for not answering.' }),
    el('form', { class: 'report-form', onsubmit: (e) => { e.preventDefault(); load(); } },
      field('From', from), field('To', to), el('button', { class: 'btn primary', type: 'submit', text: 'Show' })),
    out));
  load();
}
