// Files in a chat, loaded the first time one is picked or shown: the tray of uploads under
// the composer (progress, remove, retry: a retry reuses the upload's client id, so the
// server keeps it once), and a message's files: photo thumbnails that open a full-size
// viewer, documents and recordings that download (audio and video play in place). Files
// are fetched with the page's own credentials (guests: their token), never by bare URL.

import { auth } from './api.js';
import { el, icon, toast, uid } from './ui.js';

const css = el('link', { rel: 'stylesheet', href: new URL('./attach.css', import.meta.url).href });
document.head.append(css);

const MAX = 10;
const size = (b) => (b < 1e6 ? `${Math.max(1, Math.round(b / 1e3))} KB` : `${(b / 1e6).toFixed(1)} MB`);
const urls = new Map();

/** A file's bytes as an object URL (kept: a file never changes). */
async function blobUrl(path) {
  if (!urls.has(path)) {
    urls.set(path, (async () => {
      const a = auth();
      const r = await fetch(path, { headers: a.headers, credentials: a.credentials });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return URL.createObjectURL(await r.blob());
    })());
    urls.get(path).catch(() => urls.delete(path));
  }
  return urls.get(path);
}

/** Add picked, dropped or pasted files to the tray and upload them at once. */
export function add(view, files) {
  view.uploads ||= [];
  for (const file of files) {
    if (view.uploads.length >= MAX) { toast(`At most ${MAX} files go in one message.`, 'error'); break; }
    const u = { file, client_id: uid('f'), chat_id: view.chatId, preview: file.type.startsWith('image/') ? URL.createObjectURL(file) : null };
    view.uploads.push(u);
    upload(view, u);
  }
  tray(view);
}

function upload(view, u) {
  u.state = 'uploading';
  u.error = null;
  u.progress = 0;
  const q = new URLSearchParams({ chat_id: u.chat_id, client_id: u.client_id, name: u.file.name || 'photo.jpg' });
  const x = new XMLHttpRequest();
  x.open('POST', `/api/chat/attachments?${q}`);
  x.setRequestHeader('accept', 'application/json');
  for (const [k, v] of Object.entries(auth().headers)) x.setRequestHeader(k, v);
  x.upload.onprogress = (e) => {
    u.progress = e.lengthComputable ? e.loaded / e.total : 0;
    if (u.bar) u.bar.value = u.progress;
  };
  const done = (error) => {
    if (error) { u.state = 'failed'; u.error = error; }
    tray(view);
  };
  x.onload = () => {
    let d = null;
    try { d = JSON.parse(x.responseText); } catch { /* not JSON */ }
    if (x.status === 200 || x.status === 201) { u.meta = d; u.state = 'done'; return done(); }
    done(d?.error?.message || `Upload failed (HTTP ${x.status}).`);
  };
  x.onerror = () => done('Upload failed: you seem to be offline.');
  x.send(u.file);
}

function tray(view) {
  const ups = view.uploads || [];
  view.tray.hidden = !ups.length;
  view.tray.replaceChildren(...ups.map((u) => {
    const name = u.file.name || 'photo';
    u.bar = u.state === 'uploading' ? el('progress', { max: 1, value: u.progress, 'aria-label': `Uploading ${name}` }) : null;
    return el('li', { class: `up is-${u.state}` },
      u.preview ? el('img', { src: u.preview, alt: '' }) : icon('clip'),
      el('span', { class: 'up-name', text: name }),
      u.bar,
      u.state === 'failed' ? el('span', { class: 'up-err', role: 'alert', text: u.error }) : null,
      u.state === 'failed' ? el('button', { class: 'link', type: 'button', text: 'Retry', onclick: () => { upload(view, u); tray(view); } }) : null,
      el('button', {
        class: 'icon-btn', type: 'button', 'aria-label': `Remove ${name}`,
        onclick: () => { view.uploads = view.uploads.filter((o) => o !== u); tray(view); view.input.focus(); },
      }, icon('close')));
  }));
}

/** Fill `box` with the files of message `m`. */
export function show(view, m, box) {
  box.replaceChildren(...m.attachments.map((a) => {
    const path = `/api/chat/attachments/${a.id}`;
    if (a.kind === 'image') {
      const w = a.width || 160;
      const h = a.height || 120;
      const k = Math.min(1, 220 / Math.max(w, h));
      const img = el('img', { alt: a.name, width: Math.round(w * k), height: Math.round(h * k) });
      blobUrl(a.thumb ? `${path}/thumb` : path).then((u) => { img.src = u; }, () => img.classList.add('broken'));
      return el('button', { class: 'thumb', type: 'button', 'aria-label': `Open photo ${a.name}`, onclick: () => viewer(a, path) }, img);
    }
    const chip = el('button', { class: 'file', type: 'button', 'aria-label': `Open ${a.name}, ${size(a.size)}` },
      icon('clip'), el('span', { class: 'file-name', text: a.name }), el('span', { class: 'muted', text: size(a.size) }));
    chip.onclick = async () => {
      try {
        const u = await blobUrl(path);
        if (a.kind === 'audio' || a.kind === 'video') {
          chip.replaceWith(el(a.kind, { src: u, controls: true, autoplay: true, 'aria-label': a.name }));
        } else {
          el('a', { href: u, download: a.name }).click();
        }
      } catch { toast(`${a.name} could not be opened.`, 'error'); }
    };
    return chip;
  }));
}

/** The full photo, in a dialog, with a download link. */
async function viewer(a, path) {
  const img = el('img', { alt: a.name });
  const save = el('a', { class: 'btn', download: a.name, text: 'Download' });
  const d = el('dialog', { class: 'viewer', 'aria-label': a.name },
    el('div', { class: 'viewer-bar' }, el('span', { text: a.name }), save,
      el('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close', onclick: () => d.close() }, icon('close'))),
    img);
  d.addEventListener('close', () => d.remove());
  d.addEventListener('click', (e) => { if (e.target === d) d.close(); });
  document.body.append(d);
  d.showModal();
  try {
    img.src = save.href = await blobUrl(path);
  } catch { toast(`${a.name} could not be opened.`, 'error'); d.close(); }
}
