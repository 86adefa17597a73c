// Embedding (docs/integration.md): a host page on another origin frames the widget and hands
// it a host-signed token by postMessage. The customer sees their earlier chat (made before
// through the API), the page hears the unread count, and a page from an origin that is not
// in embed_origins is refused by frame-ancestors and hears nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startServer, launchBrowser, newSession, apiToken, shots, signIn, watch } from '../lib/harness.js';
import { natiChatToken } from '../../docs/examples/sign-token.mjs';

const T = { timeout: 180000 };
const KEY = { kid: 'garage-2026', secret: 'embed-test-secret-0123456789abcdef', issuer: 'https://garage.test', audience: 'nati-chat' };
const HANNA = { role: 'user', id: 4242, name: 'Hanna Host', email: 'hanna@garage.test' };
let srv;
let browser;
let good;
let evil;
let session;

/** A host site: a page framing the chat, and /token, which signs a token for Hanna. */
async function hostPage() {
  let chat = '';
  const server = createServer((req, res) => {
    if (req.url === '/token') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end(natiChatToken(HANNA, KEY));
    }
    const framePath = new URL(req.url, 'http://page').searchParams.get('frame') || '/widget';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Garage Weber</title></head>
<body><h1>Garage Weber</h1><p>Bell: <span id="bell">0</span></p>
<iframe id="chat" title="Chat" src="${chat}${framePath}" style="width:${framePath === '/widget' ? 380 : 1000}px;height:600px;border:1px solid #ccc"></iframe>
<script>
  const CHAT = ${JSON.stringify(chat)};
  window.natiEvents = [];
  addEventListener('message', async (e) => {
    if (e.origin !== CHAT) return;
    window.natiEvents.push(e.data);
    const frame = document.getElementById('chat').contentWindow;
    if (e.data.type === 'nati:need-token') {
      const token = await (await fetch('/token')).text();
      frame.postMessage({ type: 'nati:token', token }, CHAT);
    } else if (e.data.type === 'nati:unread') {
      document.getElementById('bell').textContent = String(e.data.count);
    }
  });
  window.startChat = (topic) => document.getElementById('chat').contentWindow.postMessage({ type: 'nati:start', topic }, CHAT);
  window.openChat = (id) => document.getElementById('chat').contentWindow.postMessage({ type: 'nati:open', chat_id: id }, CHAT);
</script></body></html>`);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, setChat: (c) => { chat = c; }, close: () => new Promise((ok) => server.close(ok)) };
}

async function post(path, token, body) {
  const r = await fetch(`${srv.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(data)}`);
  return data;
}

before(async () => {
  good = await hostPage();
  evil = await hostPage();
  srv = await startServer({
    env: {
      NATI_HOST_TOKEN_KEYS: `{${KEY.kid}="${KEY.secret}"}`,
      NATI_HOST_TOKEN_ISSUER: KEY.issuer,
      NATI_EMBED_ORIGINS: `["${good.origin}"]`,
    },
  });
  good.setChat(srv.url);
  evil.setChat(srv.url);
  browser = await launchBrowser();
});

after(async () => {
  if (session?.page?.problems?.length) console.log('page problems:', session.page.problems);
  await browser?.close();
  await good?.close();
  await evil?.close();
  await srv?.dispose();
});

test('a host page signs its customer into the embedded widget and hears the unread count', T, async () => {
  // Before: Hanna signed in from the site once, asked about her brakes, and staff answered twice.
  const hanna = await post('/api/auth/host', null, { token: natiChatToken(HANNA, KEY), mode: 'bearer' });
  assert.equal(hanna.account.source, 'host');
  const started = await post('/api/chat/start', hanna.token, { topic: 'Brake noise', message: 'My brakes squeak when cold.' });
  const chatId = started.chat.chat_id;
  const admin = await apiToken(srv.url, 'admin@nati.test');
  for (const text of ['Thanks Hanna, which model?', 'We can look at it tomorrow.']) {
    await post('/api/chat/send_message', admin, { chat_id: chatId, message: text });
  }

  session = await newSession(browser);
  const p = session.page;
  await p.goto(`${good.origin}/`);
  const f = p.frameLocator('#chat');
  // Her own chat, as herself: no guest form.
  await f.getByRole('heading', { name: 'Hi Hanna Host!' }).waitFor();
  await f.getByRole('button', { name: /Brake noise/ }).waitFor();
  assert.equal(await f.getByLabel('Your name', { exact: true }).count(), 0, 'not a guest');
  // The page's bell hears the unread count, at its exact origin.
  await p.waitForFunction(() => window.natiEvents.some((m) => m.type === 'nati:unread' && m.count === 2));
  assert.equal(await p.locator('#bell').textContent(), '2');
  assert.ok((await p.evaluate(() => window.natiEvents)).some((m) => m.type === 'nati:need-token'), 'the frame asked for the token');
  await shots(p, 'embed-signed-in');

  // The page opens the chat: the history is there, it is read, and the bell goes to 0.
  await p.evaluate((id) => window.openChat(id), chatId);
  await f.locator('.msg .text', { hasText: 'brakes squeak' }).waitFor();
  await f.locator('.msg .text', { hasText: 'look at it tomorrow' }).waitFor();
  await p.waitForFunction(() => window.natiEvents.some((m) => m.type === 'nati:unread' && m.count === 0));
  assert.equal(await p.locator('#bell').textContent(), '0');

  // A new staff reply while she looks at it is read at once; one in another chat counts.
  const other = await post('/api/chat/start', hanna.token, { topic: 'Winter tyres', message: 'Do you store tyres?' });
  await post('/api/chat/send_message', admin, { chat_id: other.chat.chat_id, message: 'Yes, 40 EUR a season.' });
  await p.waitForFunction(() => window.natiEvents.some((m) => m.type === 'nati:unread' && m.count === 1));

  // The page starts a chat with a topic; it opens, ready for her message.
  await p.evaluate(() => window.startChat('Oil change'));
  await f.getByRole('button', { name: '← Your chats' }).waitFor();
  await f.getByLabel('Message', { exact: true }).fill('When can I come in?');
  await f.getByLabel('Message', { exact: true }).press('Enter');
  await f.locator('.msg.mine .text', { hasText: 'When can I come in?' }).waitFor();
  // The message shows at once, marked "Sending", and is stored a moment later: ask until it is.
  const stored = (list) => list.chats.some((c) => c.topic === 'Oil change' && c.last_message === 'When can I come in?');
  let mine;
  for (let i = 0; i < 50; i++) {
    mine = await (await fetch(`${srv.url}/api/chat/list`, { headers: { authorization: `Bearer ${hanna.token}` } })).json();
    if (stored(mine)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(stored(mine), JSON.stringify(mine.chats.map((c) => [c.topic, c.last_message])));
  assert.deepEqual(session.page.problems.filter((x) => !x.includes('favicon')), []);
});

test('a page from an origin that is not allowed cannot frame the chat and hears nothing', T, async () => {
  const { page: p } = await newSession(browser);
  const refused = [];
  p.on('console', (m) => { if (/frame-ancestors/.test(m.text())) refused.push(m.text()); });
  await p.goto(`${evil.origin}/`);
  await p.waitForTimeout(3000);
  assert.deepEqual(await p.evaluate(() => window.natiEvents), [], 'no message from the chat');
  assert.ok(refused.length > 0, 'Chromium refused the frame (frame-ancestors)');
  const r = await fetch(`${srv.url}/widget`);
  assert.match(r.headers.get('content-security-policy'), new RegExp(`frame-ancestors 'self' ${good.origin}$`));
});

test('staff see who the site verified, and an admin makes an API key that works once shown', T, async () => {
  const { page: p } = await newSession(browser);
  await signIn(p, srv.url, 'admin@nati.test');
  const item = p.locator('.chat-list li', { hasText: 'Hanna Host' }).first();
  await item.locator('.tag', { hasText: 'Verified by the site' }).waitFor();
  await p.getByRole('button', { name: 'API keys' }).click();
  await p.getByRole('button', { name: 'New key' }).click();
  await p.getByLabel('Name', { exact: true }).fill('Garage bell');
  await p.getByLabel(/Read unread counts/).check();
  await p.getByRole('button', { name: 'Create key' }).click();
  const key = await p.getByLabel('API key', { exact: true }).inputValue();
  assert.match(key, /^nk_/);
  await p.getByRole('button', { name: 'Done' }).click();
  await p.locator('.acct-list li', { hasText: 'Garage bell' }).waitFor();
  const r = await fetch(`${srv.url}/api/host/v1/unread?role=user&host_id=${HANNA.id}`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).total, 1);
  await shots(p, 'admin-api-keys');
});

test('the customer panel, embedded, takes the same token and reports the bell', T, async () => {
  const { page: p } = await newSession(browser);
  await p.goto(`${good.origin}/?frame=/chat`);
  const f = p.frameLocator('#chat');
  await f.locator('.chat-list', { hasText: 'Brake noise' }).waitFor();
  await f.locator('.chat-list', { hasText: 'Winter tyres' }).waitFor();
  assert.equal(await f.getByLabel('Password', { exact: true }).count(), 0, 'no login form');
  await p.waitForFunction(() => window.natiEvents.some((m) => m.type === 'nati:unread' && m.count === 1));
  await shots(p, 'embed-customer-panel');
});

test('dark mode: the signed-in customer\'s chats in the widget are dark and readable', T, async () => {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, colorScheme: 'dark' });
  const p = watch(await context.newPage());
  await p.goto(`${good.origin}/`);
  const f = p.frameLocator('#chat');
  await f.getByRole('heading', { name: 'Hi Hanna Host!' }).waitFor();
  const row = f.getByRole('button', { name: /Brake noise/ });
  await row.waitFor();
  // Her own last message reads "You: …", staff's as written.
  await f.getByRole('button', { name: /Oil change/ }).getByText('You: When can I come in?', { exact: true }).waitFor();
  await row.getByText('We can look at it tomorrow.', { exact: true }).waitFor();
  const bg = await row.evaluate((b) => getComputedStyle(b).backgroundColor);
  assert.notEqual(bg, 'rgb(255, 255, 255)', 'a chat row is no white card in dark mode');
  await shots(p, 'dark-embed-signed-in');
  assert.deepEqual(p.problems.filter((x) => !x.includes('favicon')), []);
  await context.close();
});

test('when the chat session runs out, the widget asks the page for a fresh token and carries on', T, async () => {
  // A chat server whose host sessions last 15 s (long enough for the steps after the
  // renewal on a loaded machine), and whose sockets notice at their next ping.
  const page = await hostPage();
  const short = await startServer({
    env: {
      NATI_HOST_TOKEN_KEYS: `{${KEY.kid}="${KEY.secret}"}`,
      NATI_HOST_TOKEN_ISSUER: KEY.issuer,
      NATI_EMBED_ORIGINS: `["${page.origin}"]`,
      NATI_HOST_SESSION_TTL_SECS: '15',
      NATI_WS_PING_SECS: '1',
      NATI_WS_SESSION_CHECK_MILLIS: '0',
    },
  });
  page.setChat(short.url);
  try {
    const { page: p } = await newSession(browser);
    await p.goto(`${page.origin}/`);
    const f = p.frameLocator('#chat');
    await f.getByRole('heading', { name: 'Hi Hanna Host!' }).waitFor();
    const asked = () => p.evaluate(() => window.natiEvents.filter((m) => m.type === 'nati:need-token').length);
    assert.equal(await asked(), 1);
    // The session ends on the server; the frame asks the page again, no login form.
    await p.waitForFunction(() => window.natiEvents.filter((m) => m.type === 'nati:need-token').length >= 2, null, { timeout: 45000 });
    await f.getByRole('heading', { name: 'Hi Hanna Host!' }).waitFor();
    assert.equal(await f.getByLabel('Password', { exact: true }).count(), 0, 'no login form');
    assert.equal(await f.getByLabel('Your name', { exact: true }).count(), 0, 'not a guest');
    // Signed in again with the fresh token: she starts a chat and writes in it.
    await p.evaluate(() => window.startChat('After a fresh token'));
    await f.getByRole('button', { name: '← Your chats' }).waitFor();
    await f.getByLabel('Message', { exact: true }).fill('Still me?');
    await f.getByLabel('Message', { exact: true }).press('Enter');
    await f.locator('.msg.mine .text', { hasText: 'Still me?' }).waitFor();
    const again = await fetch(`${short.url}/api/auth/host`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: natiChatToken(HANNA, KEY), mode: 'bearer' }),
    }).then((r) => r.json());
    const list = await (await fetch(`${short.url}/api/chat/list`, { headers: { authorization: `Bearer ${again.token}` } })).json();
    assert.ok(list.chats.some((c) => c.topic === 'After a fresh token' && c.last_message === 'Still me?'), JSON.stringify(list.chats));
  } finally {
    await short.dispose();
    await page.close();
  }
});
