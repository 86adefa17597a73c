// The signed-in panels in a real headless Chromium: an admin and a customer talk live
// (typing, read ticks, XSS shown as text), an admin assigns a worker who answers, the
// connection drops and resumes, and every panel is photographed at phone and desktop size.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newSession, signIn, shot, shots, horizontalOverflow, apiToken, apiGet,
} from '../lib/harness.js';

const XSS = '<img src=x onerror=alert(1)>';
let srv;
let browser;
let user;
let admin;
let worker;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  for (const s of [user, admin, worker]) if (s?.page?.problems?.length) console.log('page problems:', s.page.problems);
  await browser?.close();
  await srv?.dispose();
});

const T = { timeout: 180000 };

function noProblems(...sessions) {
  for (const s of sessions) assert.deepEqual(s.page.problems, [], 'no script errors, CSP violations or dialogs');
}

test('pages carry the CSP and framing headers; / sends to the right place', T, async () => {
  for (const path of ['/login', '/admin', '/worker', '/chat', '/user', '/guest']) {
    const r = await fetch(`${srv.url}${path}`);
    assert.equal(r.status, 200, path);
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'(;|$)/, path);
    assert.match(csp, /frame-ancestors 'self'/, path);
    assert.equal(r.headers.get('x-frame-options'), 'SAMEORIGIN', path);
  }
  const w = await fetch(`${srv.url}/widget`);
  assert.match(w.headers.get('content-security-policy'), /frame-ancestors \*/);
  assert.equal(w.headers.get('x-frame-options'), null);
  const js = await fetch(`${srv.url}/widget.js`);
  assert.match(js.headers.get('content-type'), /javascript/);
  const root = await fetch(`${srv.url}/`, { redirect: 'manual' });
  assert.equal(root.headers.get('location'), '/login');
  const token = await apiToken(srv.url, 'worker1@nati.test');
  const signed = await fetch(`${srv.url}/`, { redirect: 'manual', headers: { cookie: `nati_session=${token}` } });
  assert.equal(signed.headers.get('location'), '/worker');
});

test('an admin and a customer talk live: typing, read ticks, text never HTML', T, async () => {
  user = await newSession(browser);
  admin = await newSession(browser);
  await signIn(user.page, srv.url, 'user1@nati.test');
  assert.equal(new URL(user.page.url()).pathname, '/chat');
  await signIn(admin.page, srv.url, 'admin@nati.test');
  assert.equal(new URL(admin.page.url()).pathname, '/admin');
  const u = user.page;
  const a = admin.page;

  // The customer starts a chat (topic + first message).
  await u.getByRole('button', { name: 'New chat' }).click();
  await u.getByLabel('Topic', { exact: true }).fill('Brake noise');
  await u.getByLabel('Message', { exact: true }).fill('Hello, my brakes squeal when I stop.');
  await shots(u, 'customer-new-chat');
  await u.setViewportSize({ width: 1366, height: 768 });
  await u.getByRole('button', { name: 'Start chat' }).click();
  await u.locator('.msg.mine .text', { hasText: 'brakes squeal' }).waitFor();

  // It appears on the admin's list live, with an unread badge and the bell count.
  const item = a.locator('.chat-item', { hasText: 'Umar User' });
  await item.waitFor();
  await item.locator('.badge', { hasText: '1' }).waitFor();
  await a.locator('.bell .badge', { hasText: '1' }).waitFor();

  // The admin opens it: the customer's message gets its read tick.
  await item.click();
  await a.locator('.msg.in .text', { hasText: 'brakes squeal' }).waitFor();
  await a.locator('.divider', { hasText: 'Unread messages' }).waitFor();
  await u.locator('.msg.mine .tick.read').waitFor();
  await a.locator('.bell .badge').waitFor({ state: 'hidden' });

  // Typing shows on the other side, and the answer arrives live.
  await a.locator('.composer-input').pressSequentially('Hi Umar', { delay: 30 });
  await u.locator('.typing.on', { hasText: 'Alice Admin is typing' }).waitFor();
  await a.locator('.composer-input').pressSequentially(', could you tell me the model?', { delay: 5 });
  await a.keyboard.press('Enter');
  await u.locator('.msg.in .text', { hasText: 'Hi Umar, could you tell me the model?' }).waitFor();
  await u.locator('.typing.on').waitFor({ state: 'hidden' });
  // The customer has the chat open, so the admin's message is read.
  await a.locator('.msg.mine', { hasText: 'could you tell me' }).locator('.tick.read').waitFor();
  // The admin's row names the topic and previews the admin's own answer as "You: …".
  await item.locator('.tag', { hasText: 'Brake noise' }).waitFor();
  await item.locator('.ci-preview', { hasText: 'You: Hi Umar, could you tell me the model?' }).waitFor();
  await u.locator('.chat-item .ci-preview', { hasText: /^Hi Umar, could you tell me/ }).waitFor();

  await u.locator('.composer-input').pressSequentially('It is a Nati', { delay: 30 });
  await a.locator('.typing.on', { hasText: 'Umar User is typing' }).waitFor();
  await u.locator('.composer-input').fill('It is a Nati Polo from 2019.');
  await u.locator('.composer-input').press('Enter');
  await a.locator('.msg.in .text', { hasText: 'Nati Polo from 2019' }).waitFor();
  await u.locator('.msg.mine', { hasText: 'Nati Polo' }).locator('.tick.read').waitFor();

  // Markup in a message is shown as text, never run or parsed.
  await u.locator('.composer-input').fill(XSS);
  await u.locator('.composer-input').press('Enter');
  const shown = a.locator('.msg.in .text', { hasText: XSS });
  await shown.waitFor();
  assert.equal(await shown.textContent(), XSS);
  assert.equal(await a.locator('.msgs img').count(), 0);
  assert.equal(await u.locator('.msgs img').count(), 0);
  await a.locator('.chat-item .ci-preview', { hasText: XSS }).waitFor();

  // Web addresses are links that open in a new tab; everything else stays text.
  const LINKED = 'Parts: https://parts.example/brakes?id=7. Not javascript:alert(1) or <a href="javascript:alert(2)">x</a>';
  await u.locator('.composer-input').fill(LINKED);
  await u.locator('.composer-input').press('Enter');
  for (const [p, side] of [[a, '.msg.in'], [u, '.msg.mine']]) {
    const text = p.locator(`${side} .text`, { hasText: 'Parts:' });
    await text.waitFor();
    assert.equal(await text.textContent(), LINKED, 'the text reads as sent');
    const links = text.locator('a');
    assert.equal(await links.count(), 1, 'only the http(s) address is a link');
    assert.equal(await links.getAttribute('href'), 'https://parts.example/brakes?id=7');
    assert.equal(await links.getAttribute('target'), '_blank');
    assert.equal(await links.getAttribute('rel'), 'noopener nofollow ugc');
    assert.equal(await links.textContent(), 'https://parts.example/brakes?id=7');
  }

  // The testers' message, from staff to the customer: the address is a link without the full
  // stop after it, and the markup after it stays text (no image element anywhere).
  const TESTERS = 'see https://example.com/a?b=1. and <img src=x onerror=alert(1)>';
  await a.locator('.composer-input').fill(TESTERS);
  await a.locator('.composer-input').press('Enter');
  for (const [p, side] of [[u, '.msg.in'], [a, '.msg.mine']]) {
    const text = p.locator(`${side} .text`, { hasText: 'see https://example.com' });
    await text.waitFor();
    assert.equal(await text.textContent(), TESTERS, 'the text reads as sent');
    assert.equal(await text.locator('a').count(), 1);
    const link = text.locator('a');
    assert.equal(await link.textContent(), 'https://example.com/a?b=1');
    assert.equal(await link.evaluate((x) => x.href), 'https://example.com/a?b=1');
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.equal(await link.getAttribute('rel'), 'noopener nofollow ugc');
    assert.equal(await text.evaluate((x) => x.childElementCount), 1, 'one element (the link); the rest is text');
    assert.equal(await p.locator('.msgs img').count(), 0);
  }

  // Timestamps: relative text, exact time on hover.
  const t = a.locator('.msg.in time').last();
  assert.match(await t.textContent(), /now|min ago|\d/);
  assert.ok((await t.getAttribute('title')).length > 10);
  noProblems(user, admin);
});

test('the admin assigns a worker, who sees the chat appear and answers; escalation and resolve', T, async () => {
  worker = await newSession(browser);
  await signIn(worker.page, srv.url, 'worker1@nati.test');
  const w = worker.page;
  const a = admin.page;
  const u = user.page;
  await w.locator('.list-empty').waitFor();

  await a.getByLabel('Worker to assign').selectOption({ label: 'Walt Worker' });
  await a.getByRole('button', { name: 'Assign', exact: true }).click();
  await a.locator('.sys-text', { hasText: 'assigned the chat to Walt Worker' }).waitFor();
  await a.locator('.chat-item', { hasText: 'Walt Worker' }).waitFor();

  // The worker sees it appear live, unread, and answers.
  const item = w.locator('.chat-item', { hasText: 'Umar User' });
  await item.waitFor();
  await item.click();
  await w.locator('.msg.in .text', { hasText: 'Nati Polo from 2019' }).waitFor();
  await w.locator('.composer-input').fill('Walt here from the workshop. Bring it in tomorrow at 9?');
  await w.locator('.composer-input').press('Enter');
  await u.locator('.msg.in .text', { hasText: 'Walt here from the workshop' }).waitFor();
  await u.locator('.conv-sub', { hasText: 'with Walt Worker' }).waitFor();
  await a.locator('.msg .text', { hasText: 'Walt here from the workshop' }).waitFor();
  await w.locator('.msg.mine', { hasText: 'Walt here' }).locator('.tick.read').waitFor();

  // "Need admin": the admin sees the escalation live and hands it back.
  await w.getByRole('button', { name: 'Need admin' }).click();
  await w.getByLabel('What do you need?').fill('Customer asks for a discount');
  await w.getByRole('button', { name: 'Ask an admin' }).click();
  await a.locator('.chat-item .pill', { hasText: 'Needs admin' }).waitFor();
  await a.locator('.conv-head .pill', { hasText: 'Needs admin' }).waitFor();
  await a.getByRole('button', { name: 'Hand back' }).click();
  await w.locator('.conv-head .pill', { hasText: 'Open' }).waitFor();

  // "Mark resolved": the customer's list moves it under Closed.
  await w.getByRole('button', { name: 'Mark resolved' }).click();
  await w.locator('.conv-note', { hasText: 'resolved' }).waitFor();
  await u.locator('.group-head', { hasText: 'Closed' }).waitFor();
  await u.locator('.conv-note', { hasText: 'Write a message to reopen it' }).waitFor();
  // The rows still preview the last message someone wrote, not the system lines after it
  // ("… asked for an admin", "… handed the chat back", "… closed the chat").
  const row = a.locator('.chat-item', { hasText: 'Umar User' });
  await row.locator('.pill', { hasText: 'Closed' }).waitFor();
  assert.equal(await row.locator('.ci-preview').textContent(), 'Walt here from the workshop. Bring it in tomorrow at 9?');
  await w.locator('.chat-item .pill', { hasText: 'Closed' }).waitFor();
  assert.equal(await w.locator('.chat-item .ci-preview').textContent(), 'You: Walt here from the workshop. Bring it in tomorrow at 9?');
  await u.locator('.chat-item .ci-preview', { hasText: /^Walt here from the workshop/ }).waitFor();
  noProblems(user, admin, worker);
});

test('messages fail while the server is away, retry once it is back; sockets resume with after=', T, async () => {
  const u = user.page;
  const a = admin.page;
  const sockets = [];
  u.on('websocket', (ws) => sockets.push(ws.url()));
  await srv.stop();
  await u.locator('.banner', { hasText: 'Reconnecting' }).waitFor();
  await a.locator('.banner', { hasText: 'Reconnecting' }).waitFor();
  await u.locator('.composer-input').fill('Sent while you were away');
  await u.locator('.composer-input').press('Enter');
  const failed = u.locator('.msg.failed', { hasText: 'Sent while you were away' });
  await failed.waitFor();
  await failed.getByRole('button', { name: 'Retry' }).waitFor();

  const again = await startServer({ dataDir: srv.dataDir, port: srv.port });
  srv.stop = again.stop;
  await u.locator('.banner').waitFor({ state: 'hidden', timeout: 40000 });
  await a.locator('.banner').waitFor({ state: 'hidden', timeout: 40000 });
  assert.ok(sockets.some((s) => /[?&]after=\d+/.test(s)), `a resumed socket asks for after=: ${sockets}`);

  await failed.getByRole('button', { name: 'Retry' }).click();
  await u.locator('.msg.mine:not(.failed):not(.sending)', { hasText: 'Sent while you were away' }).waitFor();
  await a.locator('.msg.in .text', { hasText: 'Sent while you were away' }).waitFor();
  // The customer wrote into a closed chat: it is waiting again.
  await a.locator('.conv-head .pill', { hasText: 'Waiting' }).waitFor();
  assert.equal(await a.locator('.msg.in .text', { hasText: 'Sent while you were away' }).count(), 1);
  const token = await apiToken(srv.url, 'admin@nati.test');
  const chatId = Number(await a.locator('.chat-item[aria-current="true"]').getAttribute('data-chat'));
  const page = await apiGet(srv.url, token, `/api/chat/messages?chat_id=${chatId}&limit=100`);
  assert.equal(page.messages.filter((m) => m.message === 'Sent while you were away').length, 1, 'stored once');
  noProblems(user, admin);
});

test('older messages load on scroll; preferences save; the bell lists unread chats', T, async () => {
  const token = await apiToken(srv.url, 'user2@nati.test');
  const start = await fetch(`${srv.url}/api/chat/start`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'Service history', message: 'Message 1' }),
  }).then((r) => r.json());
  for (let i = 2; i <= 60; i++) {
    await fetch(`${srv.url}/api/chat/send_message`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ chat_id: start.chat.chat_id, message: `Message ${i}` }),
    });
  }
  const a = admin.page;
  await a.locator('.bell .badge').waitFor();
  await a.locator('.bell').click();
  await a.locator('.bell-pop button', { hasText: 'Ursula User' }).click();
  await a.locator('.msg .text', { hasText: /^Message 60$/ }).waitFor();
  assert.equal(await a.locator('.msg .text', { hasText: /^Message 1$/ }).count(), 0);
  await a.locator('.conv-scroll').evaluate((s) => { s.scrollTop = 0; });
  await a.locator('.msg .text', { hasText: /^Message 1$/ }).waitFor();
  await a.locator('.older', { hasText: 'start of the conversation' }).waitFor();

  await a.getByRole('button', { name: /Account:/ }).click();
  await a.getByRole('menuitem', { name: 'Notification preferences' }).click();
  await a.getByLabel('Play a sound for new messages').check();
  await a.getByLabel('Email me about', { exact: true }).selectOption('escalated');
  // Quiet hours in the account's own time zone.
  await a.getByLabel('Quiet from', { exact: true }).selectOption('22');
  await a.getByLabel('until', { exact: true }).selectOption('7');
  await a.getByLabel('Time zone', { exact: true }).selectOption('Europe/Berlin');
  await a.getByRole('button', { name: 'Save' }).click();
  await a.locator('.toast', { hasText: 'Preferences saved' }).waitFor();
  // The toast stays clear of the message box.
  const toastBox = await a.locator('.toast', { hasText: 'Preferences saved' }).boundingBox();
  const inputBox = await a.locator('.composer-input').boundingBox();
  if (inputBox) {
    assert.ok(toastBox.y + toastBox.height <= inputBox.y || toastBox.y >= inputBox.y + inputBox.height,
      `the toast ${JSON.stringify(toastBox)} covers the message box ${JSON.stringify(inputBox)}`);
  }
  const prefs = await apiGet(srv.url, await apiToken(srv.url, 'admin@nati.test'), '/api/me/preferences');
  assert.equal(prefs.sound_enabled, true);
  assert.equal(prefs.admin_scope, 'escalated');
  assert.equal(prefs.time_zone, 'Europe/Berlin');
  assert.equal(prefs.quiet_start_hour, 22);
  // Opened again, the form shows the saved zone.
  await a.getByRole('button', { name: /Account:/ }).click();
  await a.getByRole('menuitem', { name: 'Notification preferences' }).click();
  assert.equal(await a.getByLabel('Time zone', { exact: true }).inputValue(), 'Europe/Berlin');
  await a.getByText('Quiet hours are in this time zone').waitFor();
  await shots(a, 'admin-preferences');
  await a.setViewportSize({ width: 1366, height: 768 });
  await a.keyboard.press('Escape');
  noProblems(admin);
});

test('accounts: an admin creates and deactivates a worker', T, async () => {
  const a = admin.page;
  await a.getByRole('button', { name: 'Accounts' }).click();
  await a.getByRole('button', { name: 'New account' }).click();
  await a.getByLabel('Name', { exact: true }).fill('Nina Newhire');
  await a.getByLabel('Email', { exact: true }).fill('nina@nati.test');
  await a.getByLabel('Password', { exact: true }).fill('long-enough-password');
  await a.getByRole('button', { name: 'Create account' }).click();
  const row = a.locator('.acct', { hasText: 'Nina Newhire' });
  await row.waitFor();
  await row.getByRole('button', { name: 'Deactivate' }).click();
  await a.locator('dialog').getByRole('button', { name: 'Deactivate' }).click();
  await row.locator('.tag', { hasText: 'Deactivated' }).waitFor();
  await row.getByRole('button', { name: 'Activate' }).waitFor();
  await a.getByRole('button', { name: 'Chats' }).click();
  noProblems(admin);
});

test('the admin filters the inbox by text, worker and status', T, async () => {
  const a = admin.page;
  const items = a.locator('.chat-item');
  const only = async (name) => {
    await a.locator('.chat-item', { hasText: name }).waitFor();
    await a.waitForFunction((n) => document.querySelectorAll('.chat-item').length === n, 1);
  };
  await a.getByLabel('Search chats').fill('ursula');
  await only('Ursula User');
  await a.getByLabel('Search chats').fill('');
  await a.waitForFunction(() => document.querySelectorAll('.chat-item').length === 2);
  await a.getByRole('button', { name: 'More filters' }).click();
  await a.getByLabel('Worker', { exact: true }).selectOption({ label: 'Walt Worker' });
  await only('Umar User');
  await a.getByLabel('Worker', { exact: true }).selectOption({ label: 'Unassigned' });
  await only('Ursula User');
  await a.getByRole('button', { name: 'Clear' }).click();
  await a.getByRole('button', { name: 'Closed', exact: true }).click();
  await a.locator('.list-empty', { hasText: 'No chats match' }).waitFor();
  await a.getByRole('button', { name: 'All', exact: true }).click();
  await a.waitForFunction(() => document.querySelectorAll('.chat-item').length === 2);
  assert.equal(await items.count(), 2);
  await a.getByRole('button', { name: 'More filters' }).click();
  noProblems(admin);
});

test('keyboard: the chat list is near the first Tab and moves with arrow keys; Esc gives focus back to the bell', T, async () => {
  const k = await newSession(browser);
  const p = k.page;
  await signIn(p, srv.url, 'admin@nati.test');
  await p.waitForFunction(() => document.querySelectorAll('.chat-item').length >= 2);
  // From the top of the page, Tab until a chat row has focus.
  await p.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
  let tabs = 0;
  for (; tabs < 20; tabs++) {
    if (await p.evaluate(() => document.activeElement?.classList.contains('chat-item'))) break;
    if (tabs === 1) {
      // The first stop is "Skip to chats", shown when focused.
      assert.equal(await p.evaluate(() => document.activeElement?.textContent), 'Skip to chats');
      await p.keyboard.press('Enter');
      continue;
    }
    await p.keyboard.press('Tab');
  }
  assert.ok(tabs <= 3, `a chat row after ${tabs} key presses (was 16 Tabs)`);
  const first = await p.evaluate(() => document.activeElement.dataset.chat);
  // Only one row is a Tab stop; arrow keys move between rows.
  assert.equal(await p.locator('.chat-item[tabindex="0"]').count(), 1);
  await p.keyboard.press('ArrowDown');
  const second = await p.evaluate(() => document.activeElement.dataset.chat);
  assert.ok(second && second !== first, 'ArrowDown moved to the next row');
  assert.equal(await p.locator('.chat-item[tabindex="0"]').getAttribute('data-chat'), second);
  await p.keyboard.press('ArrowUp');
  assert.equal(await p.evaluate(() => document.activeElement.dataset.chat), first);
  await p.keyboard.press('End');
  await p.keyboard.press('Enter');
  await p.locator('.conv-head h2').waitFor();
  // The bell's popover: open it, Esc closes it and the bell has focus again.
  const bell = p.getByRole('button', { name: 'Unread messages' });
  await bell.focus();
  await p.keyboard.press('Enter');
  await p.locator('.bell-pop').waitFor();
  await shots(p, 'admin-bell');
  await p.setViewportSize({ width: 1366, height: 768 });
  await p.keyboard.press('Escape');
  await p.locator('.bell-pop').waitFor({ state: 'hidden' });
  assert.match(await p.evaluate(() => document.activeElement?.getAttribute('aria-label')), /^Unread messages/);
  // The same for the account menu.
  await p.getByRole('button', { name: /Account:/ }).click();
  await p.getByRole('menuitem', { name: 'Sign out' }).waitFor();
  await shots(p, 'admin-account-menu');
  await p.setViewportSize({ width: 1366, height: 768 });
  await p.keyboard.press('Escape');
  assert.match(await p.evaluate(() => document.activeElement?.textContent), /Account:/);
  noProblems(k);
  await k.context.close();
});

test('a link to a chat (as in the notification emails) opens it, after signing in if needed', T, async () => {
  const w = worker.page;
  const id = await admin.page.locator('.chat-item', { hasText: 'Umar User' }).getAttribute('data-chat');
  await w.goto(`${srv.url}/worker?chat=${id}`);
  await w.locator('.conv-head h2', { hasText: 'Umar User' }).waitFor();
  assert.equal(new URL(w.url()).hash, `#chat-${id}`);
  const fresh = await newSession(browser);
  await fresh.page.goto(`${srv.url}/worker?chat=${id}`);
  await fresh.page.waitForURL(/\/login\?next=/);
  // A wrong password is said in words for a person, not as the API's text.
  await fresh.page.getByLabel('Email', { exact: true }).fill('worker1@nati.test');
  await fresh.page.getByLabel('Password', { exact: true }).fill('not-the-password');
  await fresh.page.getByRole('button', { name: 'Sign in' }).click();
  const err = fresh.page.getByRole('alert');
  await err.waitFor();
  assert.equal(await err.textContent(), "That email and password don't match an account. Check them and try again.");
  await shots(fresh.page, 'login-error');
  await fresh.page.getByLabel('Email', { exact: true }).fill('worker1@nati.test');
  await fresh.page.getByLabel('Password', { exact: true }).fill('demo-password');
  await fresh.page.getByRole('button', { name: 'Sign in' }).click();
  await fresh.page.locator('.conv-head h2', { hasText: 'Umar User' }).waitFor();
  noProblems(fresh);
  await fresh.context.close();
});

test('every panel at 390x844 and 1366x768, without horizontal scroll at 360 px', T, async () => {
  const a = admin.page;
  const u = user.page;
  const w = worker.page;
  const listView = async (p, narrow) => {
    if (narrow && (await p.locator('.main[data-view="chat"]').count())) await p.getByRole('button', { name: 'Back to chats' }).click();
    await p.locator('.list-pane').waitFor();
  };
  const openFirst = async (p) => { await listView(p, true); await p.locator('.chat-item').first().click(); await p.locator('.msg').first().waitFor(); };
  const chatView = async (p, narrow) => {
    await listView(p, narrow);
    await p.locator('.chat-item', { hasText: /Umar User|Brake noise/ }).first().click();
    await p.locator('.conv-scroll .msg').first().waitFor();
  };
  await shots(a, 'admin-inbox', async (p, narrow) => (narrow ? listView(p, narrow) : chatView(p, narrow)));
  // At phone width every tab of the admin's bar is in sight (none cut off or scrolled away).
  await a.setViewportSize({ width: 390, height: 844 });
  for (const name of ['Chats', 'Accounts', 'API keys', 'Webhooks']) {
    const box = await a.getByRole('button', { name, exact: true }).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `the ${name} tab is in sight at 390 px: ${JSON.stringify(box)}`);
  }
  await a.setViewportSize({ width: 1366, height: 768 });
  await shots(a, 'admin-chat', chatView);
  await a.getByRole('button', { name: 'Accounts' }).click();
  await shots(a, 'admin-accounts');
  await a.getByRole('button', { name: 'Chats' }).click();
  await shots(w, 'worker', async (p, narrow) => (narrow ? listView(p, narrow) : chatView(p, narrow)));
  await shots(w, 'worker-chat', chatView);
  await shots(u, 'customer', async (p, narrow) => (narrow ? listView(p, narrow) : chatView(p, narrow)));
  await shots(u, 'customer-chat', chatView);

  const login = await newSession(browser);
  await login.page.goto(`${srv.url}/login`);
  await shots(login.page, 'login');

  for (const p of [a, u, w, login.page]) {
    await p.setViewportSize({ width: 360, height: 740 });
    await p.waitForTimeout(200);
    assert.equal(await horizontalOverflow(p), null, `${p.url()} scrolls sideways at 360 px`);
    if (p !== login.page) {
      await openFirst(p);
      assert.equal(await horizontalOverflow(p), null, `${p.url()} (chat) scrolls sideways at 360 px`);
    }
  }
  await login.context.close();
});
