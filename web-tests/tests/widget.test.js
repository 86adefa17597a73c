// The guest widget embedded in a plain page on another origin: nothing but the loader until
// the bubble is opened, staff presence, a chat that survives a reload, the unread badge,
// the standalone guest page and expiry. Measures and prints the widget's gzipped size.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  startServer, launchBrowser, newSession, signIn, shots, horizontalOverflow, hostSite, recordSizes,
} from '../lib/harness.js';

const LOADER_MAX = 5 * 1024;
const WIDGET_MAX = 40 * 1024;
const T = { timeout: 180000 };
let srv;
let browser;
let host;
let visitor;
let admin;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  host = await hostSite(srv.url);
});

after(async () => {
  for (const s of [visitor, admin]) if (s?.page?.problems?.length) console.log('page problems:', s.page.problems);
  await browser?.close();
  await host?.close();
  await srv?.dispose();
});

const frame = (p) => p.frameLocator('[data-nati-chat] iframe');
const launcher = (p) => p.locator('[data-nati-chat] button.launch');

test('the guest widget: loader only until opened, offline notice, live chat, reload, badge, sizes', T, async () => {
  visitor = await newSession(browser);
  const p = visitor.page;
  const fromChat = [];
  const sockets = [];
  const bodies = new Map();
  p.on('request', (r) => { if (r.url().startsWith(srv.url)) fromChat.push(new URL(r.url()).pathname); });
  p.on('websocket', (ws) => sockets.push(ws.url()));
  p.on('response', async (r) => {
    const u = new URL(r.url());
    if (r.url().startsWith(srv.url) && !u.pathname.startsWith('/api/') && r.status() === 200) {
      try { bodies.set(u.pathname, await r.body()); } catch { /* navigated away */ }
    }
  });

  await p.goto(host.url);
  assert.notEqual(new URL(host.url).origin, new URL(srv.url).origin, 'the host page is another origin');
  await launcher(p).waitFor();
  await p.waitForTimeout(1500);
  assert.deepEqual(fromChat, ['/widget.js'], 'only the loader is fetched before the bubble is opened');
  assert.equal(sockets.length, 0, 'no socket before the bubble is opened');
  await shots(p, 'widget-closed');
  await p.setViewportSize({ width: 1366, height: 768 });

  // Open: nobody on staff is online, so it says so and asks for an email.
  await launcher(p).click();
  const f = frame(p);
  await f.locator('.gw-presence', { hasText: 'away' }).waitFor();
  await f.getByText('No one is online right now').first().waitFor();
  await f.getByRole('button', { name: 'Leave a message' }).waitFor();
  assert.equal(await f.getByLabel('Email', { exact: true }).evaluate((e) => e.required), true);
  await f.getByLabel('Your name', { exact: true }).fill('Greta Guest');
  await f.getByLabel('Email', { exact: true }).fill('greta@example.com');
  await f.getByLabel('Message', { exact: true }).fill('Hello from the widget! Do you sell winter tyres?');
  await f.getByRole('button', { name: 'Leave a message' }).click();
  await f.locator('.msg.mine .text', { hasText: 'winter tyres' }).waitFor();
  await f.locator('.gw-info', { hasText: 'email you at greta@example.com' }).waitFor();
  await f.locator('.msg.mine .tick:not(.sending)').first().waitFor();

  // Sizes: the loader alone, and everything the opened widget loaded (excluding API data).
  const gz = (b) => gzipSync(b).length;
  const loader = gz(bodies.get('/widget.js'));
  const files = [...bodies.keys()].sort();
  const whole = files.reduce((n, k) => n + gz(bodies.get(k)), 0);
  const lines = [
    `widget loader (widget.js): ${loader} bytes gzipped (limit ${LOADER_MAX})`,
    `whole widget (${files.length} files: ${files.join(', ')}): ${whole} bytes gzipped (limit ${WIDGET_MAX})`,
  ];
  recordSizes(lines);
  for (const l of lines) console.log(l);
  assert.ok(files.includes('/widget') && files.some((k) => /^\/assets\/([0-9a-f]{10}\/)?app\.css$/.test(k)), `measured the iframe too: ${files}`);
  assert.ok(loader <= LOADER_MAX, lines[0]);
  assert.ok(whole <= WIDGET_MAX, lines[1]);

  // Staff come online: the widget shows it live; the admin answers.
  admin = await newSession(browser);
  const a = admin.page;
  await signIn(a, srv.url, 'admin@nati.test');
  await f.locator('.gw-presence', { hasText: 'online' }).waitFor();
  await f.locator('.gw-info').waitFor({ state: 'hidden' });
  const item = a.locator('.chat-item', { hasText: 'Greta Guest' });
  await item.locator('.tag', { hasText: 'Guest' }).waitFor();
  await item.click();
  await f.locator('.msg.mine .tick.read').waitFor();
  await a.locator('.composer-input').pressSequentially('Hi Greta', { delay: 30 });
  await f.locator('.typing.on', { hasText: 'Alice Admin is typing' }).waitFor();
  await a.locator('.composer-input').pressSequentially(', yes we do! Which size?', { delay: 5 });
  await a.keyboard.press('Enter');
  await f.locator('.msg.in .text', { hasText: 'Hi Greta, yes we do! Which size?' }).waitFor();
  await a.locator('.msg.mine .tick.read').waitFor();
  // A web address from the staff is a link in the widget, opening in a new tab.
  await a.locator('.composer-input').fill('Sizes are listed at https://tyres.example/winter (see the table).');
  await a.keyboard.press('Enter');
  const sizes = f.locator('.msg.in .text', { hasText: 'Sizes are listed' });
  await sizes.waitFor();
  assert.equal(await sizes.textContent(), 'Sizes are listed at https://tyres.example/winter (see the table).');
  assert.equal(await sizes.locator('a').count(), 1);
  assert.equal(await sizes.locator('a').getAttribute('href'), 'https://tyres.example/winter');
  assert.equal(await sizes.locator('a').getAttribute('rel'), 'noopener nofollow ugc');
  assert.equal(await sizes.locator('a').getAttribute('target'), '_blank');
  await shots(p, 'widget-open');
  await p.setViewportSize({ width: 1366, height: 768 });
  // The testers' message: the address is a link without the full stop after it; the markup
  // after it stays text, in the widget and in the admin's panel.
  const TESTERS = 'see https://example.com/a?b=1. and <img src=x onerror=alert(1)>';
  await a.locator('.composer-input').fill(TESTERS);
  await a.keyboard.press('Enter');
  for (const [where, text] of [['widget', f.locator('.msg.in .text', { hasText: 'see https://example.com' })],
    ['admin', a.locator('.msg.mine .text', { hasText: 'see https://example.com' })]]) {
    await text.waitFor();
    assert.equal(await text.textContent(), TESTERS, `${where}: the text reads as sent`);
    const link = text.locator('a');
    assert.equal(await link.count(), 1, where);
    assert.equal(await link.textContent(), 'https://example.com/a?b=1', where);
    assert.equal(await link.evaluate((x) => x.href), 'https://example.com/a?b=1', where);
    assert.equal(await link.getAttribute('target'), '_blank', where);
    assert.equal(await link.getAttribute('rel'), 'noopener nofollow ugc', where);
    assert.equal(await text.evaluate((x) => x.childElementCount), 1, `${where}: the rest is text`);
  }
  assert.equal(await f.locator('.msgs img').count(), 0, 'no image element in the widget');
  assert.equal(await a.locator('.msgs img').count(), 0, 'no image element in the panel');

  // The conversation survives a reload of the host page.
  fromChat.length = 0;
  await p.reload();
  await launcher(p).waitFor();
  await p.waitForTimeout(500);
  assert.deepEqual(fromChat, ['/widget.js'], 'after a reload, again only the loader until opened');
  await launcher(p).click();
  await f.locator('.msg.in .text', { hasText: 'Which size?' }).waitFor();
  await f.locator('.msg.mine .text', { hasText: 'winter tyres' }).waitFor();
  await f.locator('.composer-input').fill('205/55 R16, please. Still here after a reload!');
  await f.locator('.composer-input').press('Enter');
  await a.locator('.msg.in .text', { hasText: 'Still here after a reload' }).waitFor();

  // Minimised, a new answer shows as a badge on the bubble.
  await f.getByRole('button', { name: 'Minimise chat' }).click();
  await p.locator('[data-nati-chat] .panel').waitFor({ state: 'hidden' });
  await a.locator('.composer-input').fill('We have them in stock. <b>See you</b> soon!');
  await a.locator('.composer-input').press('Enter');
  await p.locator('[data-nati-chat] .badge', { hasText: '1' }).waitFor();
  await launcher(p).click();
  await f.locator('.msg.in .text', { hasText: '<b>See you</b> soon!' }).waitFor();
  await p.locator('[data-nati-chat] .badge').waitFor({ state: 'hidden' });
  assert.equal(await f.locator('.msgs b').count(), 0, 'markup stays text');
  assert.deepEqual(p.problems, []);
  assert.deepEqual(a.problems, []);
});

test('the standalone guest page, at phone and desktop size, without horizontal scroll', T, async () => {
  const s = await newSession(browser);
  const p = s.page;
  await p.goto(`${srv.url}/guest`);
  await p.getByRole('heading', { name: 'Hi! How can we help?' }).waitFor();
  await p.locator('.gw-presence', { hasText: 'online' }).waitFor();
  await shots(p, 'guest-start');
  await p.getByLabel('Message', { exact: true }).fill('Can I book a service for Friday?');
  await p.getByRole('button', { name: 'Start chat' }).click();
  await p.locator('.msg.mine .text', { hasText: 'book a service' }).waitFor();
  await shots(p, 'guest-chat');
  await p.setViewportSize({ width: 360, height: 740 });
  assert.equal(await horizontalOverflow(p), null);
  assert.deepEqual(p.problems, []);
  await s.context.close();
});

test('an expired guest session says so, on return and live', T, async () => {
  const short = await startServer({ env: { NATI_GUEST_INACTIVITY_SECS: '4', NATI_EXPIRY_SWEEP_SECS: '1' } });
  try {
    const s = await newSession(browser, { width: 390, height: 844 });
    let p = s.page;
    // Live: the session ends while the page is open and idle.
    await p.goto(`${short.url}/guest`);
    await p.getByLabel('Email', { exact: true }).fill('gus@example.com');
    await p.getByLabel('Message', { exact: true }).fill('Quick question');
    await p.getByRole('button', { name: /Start chat|Leave a message/ }).click();
    await p.locator('.msg.mine .text', { hasText: 'Quick question' }).waitFor();
    await p.locator('.notice', { hasText: 'Your chat session has expired' }).waitFor({ timeout: 20000 });
    await p.getByRole('button', { name: /Start chat|Leave a message/ }).waitFor();

    // On return: the page was closed while the session expired.
    await p.getByLabel('Email', { exact: true }).fill('gus@example.com');
    await p.getByLabel('Message', { exact: true }).fill('Second question');
    await p.getByRole('button', { name: /Start chat|Leave a message/ }).click();
    await p.locator('.msg.mine .text', { hasText: 'Second question' }).waitFor();
    await p.close();
    await new Promise((r) => setTimeout(r, 6000));
    p = await s.context.newPage();
    await p.goto(`${short.url}/guest`);
    await p.locator('.notice', { hasText: 'Your chat session has expired' }).waitFor();
    await s.context.close();
  } finally {
    await short.dispose();
  }
});

test('the link in a guest\'s email continues the conversation in another browser', T, async () => {
  const mailSrv = await startServer({ env: { NATI_GUEST_EMAIL_DELAY_SECS: '1', NATI_EMAIL_POLL_MILLIS: '200' } });
  try {
    const g = await newSession(browser, { width: 390, height: 844 });
    const a = await newSession(browser);
    await g.page.goto(`${mailSrv.url}/guest`);
    await g.page.getByLabel('Your name', { exact: true }).fill('Mia Mail');
    await g.page.getByLabel('Email', { exact: true }).fill('mia@example.com');
    await g.page.getByLabel('Message', { exact: true }).fill('Please call me back about my clutch.');
    await g.page.getByRole('button', { name: /Start chat|Leave a message/ }).click();
    await g.page.locator('.msg.mine .text', { hasText: 'clutch' }).waitFor();
    await g.context.close();

    await signIn(a.page, mailSrv.url, 'admin@nati.test');
    await a.page.locator('.chat-item', { hasText: 'Mia Mail' }).click();
    await a.page.locator('.composer-input').fill('We will call you at 3 pm.');
    await a.page.locator('.composer-input').press('Enter');
    await a.page.locator('.msg.mine:not(.sending)', { hasText: '3 pm' }).waitFor();

    // The unread answer is emailed (to the outbox here) with a resume link.
    const outbox = join(mailSrv.dataDir, 'outbox');
    let token = null;
    for (let i = 0; i < 100 && !token; i++) {
      await new Promise((r) => setTimeout(r, 200));
      let files = [];
      try { files = readdirSync(outbox).filter((f) => f.endsWith('.eml')); } catch { /* not yet */ }
      for (const f of files) {
        const text = readFileSync(join(outbox, f), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
        const m = /\/guest\?resume=([A-Za-z0-9._~-]+)/.exec(text);
        if (m) token = m[1];
      }
    }
    assert.ok(token, 'a resume link was emailed');
    const other = await newSession(browser, { width: 390, height: 844 });
    await other.page.goto(`${mailSrv.url}/guest?resume=${token}`);
    await other.page.locator('.msg.in .text', { hasText: 'We will call you at 3 pm.' }).waitFor();
    await other.page.locator('.msg.mine .text', { hasText: 'clutch' }).waitFor();
    assert.equal(new URL(other.page.url()).search, '', 'the token leaves the address bar');
    await other.page.locator('.composer-input').fill('Thanks, 3 pm works.');
    await other.page.locator('.composer-input').press('Enter');
    await a.page.locator('.msg.in .text', { hasText: '3 pm works' }).waitFor();
    assert.deepEqual(other.page.problems, []);
    await other.context.close();
    await a.context.close();
  } finally {
    await mailSrv.dispose();
  }
});
