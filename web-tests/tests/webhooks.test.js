// The admin panel's Webhooks tab in a real headless Chromium: the endpoint with its counts,
// deliveries that failed (the receiver never answers) with their error, text shown as text,
// and "Retry now"; photographed at phone and desktop size.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { startServer, launchBrowser, newSession, signIn, shots, horizontalOverflow } from '../lib/harness.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
let srv;
let browser;

/** A port nobody listens on: deliveries there are refused. */
async function closedPort() {
  const s = createServer();
  await new Promise((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address();
  await new Promise((ok) => s.close(ok));
  return port;
}

before(async () => {
  const port = await closedPort();
  srv = await startServer({
    env: {
      NATI_WEBHOOKS: JSON.stringify([{ name: 'bell <b>', url: `http://127.0.0.1:${port}/hooks`, secrets: [SECRET] }]),
      NATI_WEBHOOK_POLL_MILLIS: '50',
      NATI_WEBHOOK_RETRY_BASE_MILLIS: '100',
      NATI_WEBHOOK_MAX_AGE_SECS: '1',
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.dispose();
});

test('admins read the webhook delivery log and retry a failed delivery', { timeout: 120000 }, async () => {
  const start = await fetch(`${srv.url}/api/chat/start`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'hello', name: 'Gina' }),
  });
  assert.equal(start.status, 201);
  const admin = await newSession(browser);
  const page = admin.page;
  await signIn(page, srv.url, 'admin@nati.test');
  await page.getByRole('button', { name: 'Webhooks' }).click();
  await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
  // The endpoint's name is shown as text, never as markup.
  const endpoints = page.getByRole('list', { name: 'Webhook endpoints' });
  await endpoints.getByText('bell <b>', { exact: true }).waitFor();
  assert.equal(await page.locator('.acct-main b').count(), 0);
  // Wait for the deliveries to be given up (max age 1 s), then filter on them.
  const log = page.getByRole('list', { name: 'Webhook deliveries' });
  for (let i = 0; i < 60; i++) {
    await page.getByRole('group', { name: 'Status' }).getByRole('button', { name: 'Failed' }).click();
    if (await log.getByText('chat.started', { exact: false }).count()) break;
    await page.waitForTimeout(250);
  }
  await log.getByText(/chat\.started · chat \d+/).waitFor();
  // The reason depends on what holds that port by then (closed, or another test's server): any one.
  // On a slow machine a delivery may pass its age limit before its first attempt.
  await log.getByText(/Last error: gave up(?: after \d+ attempts?)?: \S/).first().waitFor();
  assert.ok(await log.getByRole('button', { name: 'Retry now' }).count() >= 1);
  await shots(page, 'admin-webhooks');
  await page.setViewportSize({ width: 390, height: 844 });
  assert.equal(await horizontalOverflow(page), null, 'no sideways scrolling on a phone');
  await log.getByRole('button', { name: 'Retry now' }).first().click();
  await page.getByText('Queued again.').waitFor();
  assert.deepEqual(page.problems, [], 'no script errors or CSP violations');
});
