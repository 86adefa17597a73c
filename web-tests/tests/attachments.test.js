// Photos in a chat, in a real headless Chromium: a visitor sends a photo from the widget
// on a phone (the host site's bubble, at phone width) and the worker sees its thumbnail
// live, opens it full size; the worker sends a photo back from the worker panel at phone
// width and the visitor sees it. Upload progress, the tray, and axe-core on every shot.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signIn, shot, apiToken, apiPost, horizontalOverflow, browserSuite, hostSite } from '../lib/harness.js';

const suite = browserSuite();
const T = { timeout: 180000 };

/** A JPEG drawn by the browser itself: a dashboard with a warning light. */
async function photo(page, w, h, color) {
  const bytes = await page.evaluate(async ([w, h, color]) => {
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const g = c.getContext('2d');
    g.fillStyle = '#222';
    g.fillRect(0, 0, w, h);
    g.fillStyle = color;
    g.beginPath();
    g.arc(w / 2, h / 2, Math.min(w, h) / 4, 0, Math.PI * 2);
    g.fill();
    const blob = await new Promise((ok) => c.toBlob(ok, 'image/jpeg', 0.9));
    return [...new Uint8Array(await blob.arrayBuffer())];
  }, [w, h, color]);
  return Buffer.from(bytes);
}

test('a visitor sends a photo from the widget on a phone; the worker sees it live and answers with one', T, async () => {
  const host = await hostSite(suite.srv.url);
  try {
    const adminToken = await apiToken(suite.srv.url, 'admin@nati.test');
    const workers = await (await fetch(`${suite.srv.url}/api/admin/accounts?role=worker`, { headers: { authorization: `Bearer ${adminToken}` } })).json();
    const walt = (workers.accounts || workers).find((a) => a.name === 'Walt Worker');

    // The worker is at work (so the widget offers a live chat).
    const worker = await suite.session({ width: 390, height: 844, mobile: true });
    const w = worker.page;
    await signIn(w, suite.srv.url, 'worker1@nati.test');

    const visitor = await suite.session({ width: 390, height: 844, mobile: true });
    const p = visitor.page;
    await p.goto(host.url);
    await p.locator('[data-nati-chat] button.launch').click();
    const f = p.frameLocator('[data-nati-chat] iframe');
    await f.getByLabel('Your name', { exact: true }).fill('Pia Photo');
    const email = f.getByLabel('Email', { exact: true });
    if (await email.count()) await email.fill('pia@example.com');
    await f.getByLabel('Message', { exact: true }).fill('This light came on this morning.');
    await f.getByRole('button', { name: /Start chat|Leave a message/ }).click();
    await f.locator('.msg.mine .text', { hasText: 'This light came on' }).waitFor();

    // The admin gives the chat to the worker.
    const list = await (await fetch(`${suite.srv.url}/api/chat/list?q=light`, { headers: { authorization: `Bearer ${adminToken}` } })).json();
    const chatId = list.chats[0].chat_id;
    await apiPost(suite.srv.url, adminToken, '/api/chat/assign_worker', { chat_id: chatId, worker_id: walt.id });
    await w.locator('.chat-item', { hasText: 'Pia Photo' }).click();
    await w.locator('.msg.in .text', { hasText: 'This light came on' }).waitFor();

    // The visitor picks a photo (the attach button's file input; the camera button is the
    // same with `capture`).
    const frameEl = await p.locator('[data-nati-chat] iframe').elementHandle();
    const inner = await frameEl.contentFrame();
    const jpeg = await photo(inner, 640, 480, '#f59e0b');
    await f.getByRole('button', { name: 'Attach photos or files' }).waitFor();
    await f.locator('input[type=file]:not([capture])').setInputFiles({ name: 'dashboard.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    const tray = f.getByRole('list', { name: 'Files to send' });
    await tray.locator('.up.is-done', { hasText: 'dashboard.jpg' }).waitFor();
    await f.getByLabel('Message', { exact: true }).fill('Here it is');
    await shot(p, 'attach-widget-tray');
    await f.getByRole('button', { name: 'Send message' }).click();
    const mine = f.locator('.msg.mine', { hasText: 'Here it is' });
    await mine.locator('.files .thumb img[src^="blob:"]').waitFor();
    await mine.locator('.tick.sending').waitFor({ state: 'detached' });
    assert.equal(await tray.isHidden(), true, 'the tray empties once sent');
    await shot(p, 'attach-widget-sent');
    assert.equal(await horizontalOverflow(p), null);

    // The worker sees the thumbnail live, and the photo full size.
    const got = w.locator('.msg.in', { hasText: 'Here it is' });
    const thumb = got.getByRole('button', { name: 'Open photo dashboard.jpg' });
    await thumb.locator('img[src^="blob:"]').waitFor();
    const size = await thumb.locator('img').evaluate((i) => [i.naturalWidth, i.naturalHeight]);
    assert.ok(size[0] > 0 && size[0] <= 320 && size[1] <= 320, `a thumbnail: ${size}`);
    await shot(w, 'attach-worker-thumbnail');
    await thumb.click();
    const viewer = w.locator('dialog.viewer');
    await viewer.locator('img[src^="blob:"]').waitFor();
    assert.deepEqual(await viewer.locator('img').evaluate((i) => [i.naturalWidth, i.naturalHeight]), [640, 480]);
    await shot(w, 'attach-worker-viewer');
    await viewer.getByRole('button', { name: 'Close' }).click();
    await viewer.waitFor({ state: 'detached' });

    // The worker answers with a photo of their own, without a caption, from the phone.
    const back = await photo(w, 300, 400, '#16a34a');
    await w.locator('input[type=file]:not([capture])').setInputFiles({ name: 'new-bulb.jpg', mimeType: 'image/jpeg', buffer: back });
    await w.getByRole('list', { name: 'Files to send' }).locator('.up.is-done').waitFor();
    await w.getByRole('button', { name: 'Send message' }).click();
    await w.locator('.msg.mine .files .thumb img[src^="blob:"]').waitFor();
    await shot(w, 'attach-worker-sent');
    assert.equal(await horizontalOverflow(w), null);
    // At phone width the four buttons leave the message box room: its placeholder fits on
    // its line instead of wrapping into a box that scrolls.
    const box = w.getByLabel('Message', { exact: true });
    assert.deepEqual(await box.evaluate((i) => [i.value, i.scrollHeight <= i.clientHeight + 1]), ['', true], 'the placeholder fits');
    // The chat list previews a message of files only by what it holds: live, and as the
    // server sends it after a reload.
    // (The sending copy shows its thumbnail before the server's answer, which moves the row.)
    await w.locator('.chat-item', { hasText: 'Pia Photo' }).locator('.ci-preview', { hasText: 'You: 📎 A photo' }).waitFor({ state: 'attached' });
    assert.equal(await w.locator('.chat-item', { hasText: 'Pia Photo' }).locator('.ci-preview').textContent(), 'You: 📎 A photo');
    await w.reload();
    await w.locator('.chat-item', { hasText: 'Pia Photo' }).waitFor({ state: 'attached' });
    assert.equal(await w.locator('.chat-item', { hasText: 'Pia Photo' }).locator('.ci-preview').textContent(), 'You: 📎 A photo');
    await f.getByRole('button', { name: 'Open photo new-bulb.jpg' }).locator('img[src^="blob:"]').waitFor();

    // A file the server refuses says why, in the tray, and keeps nothing.
    await f.locator('input[type=file]:not([capture])').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('just text') });
    await tray.locator('.up.is-failed [role=alert]', { hasText: 'cannot be sent' }).waitFor();
    await shot(p, 'attach-widget-refused');
    await tray.getByRole('button', { name: 'Remove notes.txt' }).click();
    assert.equal(await tray.isHidden(), true);

    for (const s of suite.sessions) assert.deepEqual(s.page.problems, [], 'no script errors, CSP violations or dialogs');
  } finally {
    await host.close();
  }
});
