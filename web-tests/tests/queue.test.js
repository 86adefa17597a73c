// The queue and automatic assignment in a real headless Chromium: an admin turns on
// "least busy" in the Queue tab; a worker with the panel open is given a new chat live,
// its story says it was automatic; the tab shows the worker's load and the waiting chats.
// Desktop and phone width, with axe-core on each screen shot.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signIn, shot, shots, apiToken, browserSuite } from '../lib/harness.js';

const suite = browserSuite({ env: { NATI_ROUTING_POLL_MILLIS: '100' } });

const T = { timeout: 180000 };

test('least busy: an available worker is given a new chat live', T, async () => {
  const admin = await suite.session();
  const worker = await suite.session({ width: 390, height: 844, mobile: true });
  const a = admin.page;
  const w = worker.page;
  await signIn(w, suite.srv.url, 'worker1@nati.test');
  await signIn(a, suite.srv.url, 'admin@nati.test');

  await a.getByRole('button', { name: 'Queue', exact: true }).click();
  await a.getByRole('heading', { name: 'Queue' }).waitFor();
  const walt = a.getByRole('list', { name: 'Workers' }).locator('li', { hasText: 'Walt Worker' });
  await walt.locator('.tag', { hasText: 'Available' }).waitFor();
  await a.getByRole('list', { name: 'Workers' }).locator('li', { hasText: 'Wendy Worker' }).locator('.tag', { hasText: 'Offline or away' }).waitFor();
  assert.equal(await a.getByLabel('Assign new chats').inputValue(), 'manual');
  await a.getByLabel('Assign new chats').selectOption('least_busy');
  await a.getByLabel('Open chats per worker').fill('20');
  await a.getByRole('button', { name: 'Save' }).click();
  await a.locator('.toast', { hasText: 'Saved.' }).waitFor();

  // A customer writes: Walt, the only one available, has it at once.
  const user = await apiToken(suite.srv.url, 'user2@nati.test');
  const r = await fetch(`${suite.srv.url}/api/chat/start`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${user}` },
    body: JSON.stringify({ topic: 'Timing belt', message: 'When should I change my timing belt?' }),
  });
  assert.equal(r.status, 201, await r.text());
  const row = w.locator('.chat-item', { hasText: 'Timing belt' });
  await row.waitFor();
  await row.click();
  await w.locator('.msg.sys', { hasText: 'The chat was assigned to Walt Worker (automatic, least busy)' }).waitFor();
  await w.locator('.msg.in .text', { hasText: 'timing belt' }).waitFor();

  await a.getByRole('button', { name: 'Refresh' }).click();
  await walt.locator('.tag', { hasText: /^[1-9]\d* of 20 open$/ }).waitFor();
  await shots(a, 'queue-admin');

  // Workers may take waiting chats: back to manual, Wendy takes one herself.
  await a.getByLabel('Assign new chats').selectOption('manual');
  await a.getByLabel('Workers may take waiting chats themselves (within their capacity)').check();
  await a.getByRole('button', { name: 'Save' }).click();
  await a.locator('.toast', { hasText: 'Saved.' }).waitFor();
  const r2 = await fetch(`${suite.srv.url}/api/chat/start`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${user}` },
    body: JSON.stringify({ topic: 'Wiper blades', message: 'Do you have wiper blades for a Golf?' }),
  });
  assert.equal(r2.status, 201, await r2.text());
  const wendy = await suite.session({ width: 390, height: 844, mobile: true });
  const wn = wendy.page;
  await signIn(wn, suite.srv.url, 'worker2@nati.test');
  const waiting = wn.getByRole('button', { name: /^Waiting chats \(\d+\)$/ });
  await waiting.click();
  const dlg = wn.getByRole('dialog', { name: 'Waiting chats' });
  await dlg.getByRole('button', { name: 'Take Wiper blades' }).waitFor();
  await shot(wn, 'queue-take');
  await dlg.getByRole('button', { name: 'Take Wiper blades' }).click();
  await wn.locator('.msg.sys', { hasText: 'Wendy Worker took the chat from the queue' }).waitFor();
  // On a phone the chat opens over the list; its row is there, behind it.
  await wn.locator('.chat-item', { hasText: 'Wiper blades' }).waitFor({ state: 'attached' });

  // The admin takes it over: it leaves Wendy's list and shows as the admin's.
  await a.getByRole('button', { name: 'Chats', exact: true }).click();
  await a.locator('.chat-item', { hasText: 'Wiper blades' }).click();
  await a.locator('.msg.sys', { hasText: 'Wendy Worker took the chat from the queue' }).waitFor();
  await a.getByRole('button', { name: 'Assign to me' }).click();
  await a.locator('.msg.sys', { hasText: 'Alice Admin took the chat' }).waitFor();
  await a.locator('.chat-item', { hasText: 'Wiper blades' }).locator('.tag', { hasText: 'Taken by an admin' }).waitFor();
  await a.getByRole('button', { name: 'Back to the queue' }).waitFor();
  await wn.locator('.chat-item', { hasText: 'Wiper blades' }).waitFor({ state: 'detached' });
  assert.deepEqual(wn.problems, []);
  assert.deepEqual(a.problems, []);
  assert.deepEqual(w.problems, []);
});
