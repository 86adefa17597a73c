// Private notes in a real headless Chromium: a worker switches the composer to "Private
// note", writes one (marked and on yellow, no read ticks), switches back and answers; the
// admin sees the note live, marked with its author; the customer's page never shows it,
// nor a typing indicator while it was written. "Need admin" keeps its reason as a note.
// Desktop and phone width, with axe-core on each screen shot.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signIn, shot, apiToken, browserSuite, apiPost } from '../lib/harness.js';

const suite = browserSuite();

const T = { timeout: 180000 };
const NOTE = 'Pads worn to the metal, quote <b>both</b> axles';


test('a private note reaches the staff, never the customer', T, async () => {
  const userToken = await apiToken(suite.srv.url, 'user1@nati.test');
  const { chat } = await apiPost(suite.srv.url, userToken, '/api/chat/start', { topic: 'Brake check', message: 'How are my brakes?' });
  const adminToken = await apiToken(suite.srv.url, 'admin@nati.test');
  const workers = await (await fetch(`${suite.srv.url}/api/admin/accounts?role=worker`, { headers: { authorization: `Bearer ${adminToken}` } })).json();
  const walt = (workers.accounts || workers).find((a) => a.name === 'Walt Worker');
  await apiPost(suite.srv.url, adminToken, '/api/chat/assign_worker', { chat_id: chat.chat_id, worker_id: walt.id });

  const customer = await suite.session({ width: 390, height: 844, mobile: true });
  const worker = await suite.session();
  const admin = await suite.session({ width: 390, height: 844, mobile: true });
  const u = customer.page;
  const w = worker.page;
  const a = admin.page;
  await signIn(u, suite.srv.url, 'user1@nati.test');
  await u.locator('.chat-item', { hasText: 'Brake check' }).click();
  await u.locator('.msg.mine .text', { hasText: 'How are my brakes?' }).waitFor();
  await signIn(w, suite.srv.url, 'worker1@nati.test');
  await w.locator('.chat-item', { hasText: 'Umar User' }).click();
  await w.locator('.msg.in .text', { hasText: 'How are my brakes?' }).waitFor();

  // The worker switches to a private note: the toggle, the hint and the labels say so.
  const toggle = w.getByRole('button', { name: 'Private note', exact: true });
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  await w.locator('.note-hint', { hasText: 'only admins and the assigned worker see it' }).waitFor();
  const box = w.getByLabel('Private note', { exact: true }).and(w.locator('textarea'));
  await box.pressSequentially(NOTE, { delay: 10 });
  await w.getByRole('button', { name: 'Add private note' }).click();
  const note = w.locator('.msg.private', { hasText: 'Pads worn to the metal' });
  await note.waitFor();
  await note.locator('.note-label', { hasText: 'Private note' }).waitFor();
  assert.equal(await note.locator('.text b').count(), 0, 'text, never HTML');
  await note.locator('.tick.sending').waitFor({ state: 'detached' });
  assert.equal(await note.locator('.tick').count(), 0, 'a stored note has no read ticks');
  await shot(w, 'private-note-worker');

  // Back to replying: the customer gets the answer, and never the note.
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
  await w.locator('.note-hint').waitFor({ state: 'hidden' });
  await w.getByLabel('Message', { exact: true }).fill('Your brakes need new pads; a quote follows.');
  await w.getByRole('button', { name: 'Send message' }).click();
  await u.locator('.msg.in .text', { hasText: 'Your brakes need new pads' }).waitFor();
  const seen = await u.evaluate(() => document.body.innerText);
  assert.ok(!seen.includes('Pads worn'), 'the customer sees no note');
  assert.ok(!seen.includes('Private note'), 'nor a trace of one');
  assert.equal(await u.locator('.typing.on').count(), 0);
  await shot(u, 'private-note-customer');
  // A second look after a reload (history, not the socket) shows no note either.
  await u.reload();
  // The page comes back on the open chat (a phone shows the conversation alone).
  const row = u.locator('.chat-item', { hasText: 'Brake check' });
  await row.waitFor({ state: 'attached' });
  if (await row.isVisible()) await row.click();
  await u.locator('.msg.in .text', { hasText: 'Your brakes need new pads' }).waitFor();
  assert.ok(!(await u.evaluate(() => document.body.innerText)).includes('Pads worn'));

  // The worker asks for an admin with a reason: a note, not a line for the customer.
  await w.getByRole('button', { name: 'Need admin' }).click();
  const dlg = w.getByRole('dialog', { name: 'Ask an admin for help' });
  await dlg.locator('textarea').fill('Customer wants a discount');
  await dlg.getByRole('button', { name: 'Ask an admin' }).click();
  await w.locator('.msg.private', { hasText: 'Need admin: Customer wants a discount' }).waitFor();
  await u.locator('.msg.sys', { hasText: 'Walt Worker asked for an admin' }).waitFor();
  assert.ok(!(await u.evaluate(() => document.body.innerText)).includes('discount'));

  // The admin, on a phone, reads both notes marked with their author.
  await signIn(a, suite.srv.url, 'admin@nati.test');
  await a.locator('.chat-item', { hasText: 'Umar User' }).click();
  const adminNote = a.locator('.msg.private', { hasText: 'Pads worn to the metal' });
  await adminNote.waitFor();
  await adminNote.locator('.note-label', { hasText: 'Private note · Walt Worker' }).waitFor();
  await a.locator('.msg.private', { hasText: 'Need admin: Customer wants a discount' }).waitFor();
  await shot(a, 'private-note-admin');

  for (const s of suite.sessions) assert.deepEqual(s.page.problems, [], 'no script errors, CSP violations or dialogs');
});
