// Dark mode: with the system set to dark, the panels and the guest chat turn dark, and
// every state keeps 0 serious or critical axe findings (contrast included) — `shots` runs
// axe-core and the junk-text check at phone and desktop size.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, signIn, shots, watch, hostSite } from '../lib/harness.js';

const T = { timeout: 180000 };
let srv;
let browser;
let host;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  host = await hostSite(srv.url);
});

after(async () => {
  await browser?.close();
  await host?.close();
  await srv?.dispose();
});

async function darkPage() {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, colorScheme: 'dark' });
  const page = watch(await context.newPage());
  return { context, page };
}

const background = (page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
const isDark = (rgb) => {
  const [r, g, b] = rgb.match(/\d+/g).map(Number);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 60;
};

test('dark mode: a guest starts a chat, an admin answers; both dark and readable', T, async () => {
  const guest = await darkPage();
  const g = guest.page;
  await g.goto(`${srv.url}/guest`);
  await g.getByLabel('Your name', { exact: true }).fill('Dora Dark');
  await g.getByLabel('Email', { exact: true }).fill('dora@example.com');
  await g.getByLabel('Message', { exact: true }).fill('Hello at night, see https://example.com/night.');
  await g.getByRole('button', { name: /Start chat|Leave a message/ }).click();
  await g.locator('.msg.mine .text', { hasText: 'Hello at night' }).waitFor();
  assert.ok(isDark(await background(g)), `the guest page is dark: ${await background(g)}`);

  const admin = await darkPage();
  const a = admin.page;
  await signIn(a, srv.url, 'admin@nati.test');
  assert.ok(isDark(await background(a)), `the admin panel is dark: ${await background(a)}`);
  await a.locator('.chat-item', { hasText: 'Dora Dark' }).click();
  await a.locator('.composer-input').fill('Good evening Dora, we are here.');
  await a.locator('.composer-input').press('Enter');
  await g.locator('.msg.in .text', { hasText: 'Good evening Dora' }).waitFor();

  await shots(a, 'dark-admin', async (p) => {
    await p.locator('.msg.mine .text', { hasText: 'Good evening' }).waitFor();
  });
  await shots(g, 'dark-guest');
  await a.getByRole('button', { name: 'Unread messages' }).click();
  await shots(a, 'dark-admin-bell', async (p) => {
    if (await p.locator('.bell-pop').isHidden()) await p.getByRole('button', { name: 'Unread messages' }).click();
  });
  assert.deepEqual(a.problems, []);
  assert.deepEqual(g.problems, []);
  await admin.context.close();
  await guest.context.close();
});

test('dark mode: the widget on another site\'s page, in its frame', T, async () => {
  // Staff are online (the widget offers a live chat rather than a message form).
  const admin = await darkPage();
  await signIn(admin.page, srv.url, 'admin@nati.test');
  const visitor = await darkPage();
  const p = visitor.page;
  await p.goto(host.url);
  const launch = p.locator('[data-nati-chat] button.launch');
  await launch.click();
  const f = p.frameLocator('[data-nati-chat] iframe');
  await f.locator('.gw-presence', { hasText: 'online' }).waitFor();
  assert.ok(isDark(await f.locator('.gw').evaluate((e) => getComputedStyle(e).backgroundColor)), 'the widget is dark');
  await shots(p, 'dark-widget-start', async (pg) => {
    if (await pg.locator('[data-nati-chat] .panel.open').count() === 0) await launch.click();
    await f.getByRole('heading', { name: 'Hi! How can we help?' }).waitFor();
  });
  await f.getByLabel('Your name', { exact: true }).fill('Nora Night');
  await f.getByLabel('Message', { exact: true }).fill('Late question: is https://example.com/parts (the shop) open?');
  await f.getByRole('button', { name: 'Start chat' }).click();
  await f.locator('.msg.mine .text a', { hasText: 'https://example.com/parts' }).waitFor();
  await admin.page.locator('.chat-item', { hasText: 'Nora Night' }).click();
  await admin.page.locator('.composer-input').fill('Yes, until 22:00. Details: https://example.com/hours.');
  await admin.page.locator('.composer-input').press('Enter');
  await f.locator('.msg.in .text a', { hasText: 'https://example.com/hours' }).waitFor();
  await shots(p, 'dark-widget-chat');
  assert.deepEqual(p.problems, []);
  assert.deepEqual(admin.page.problems, []);
  await visitor.context.close();
  await admin.context.close();
});
