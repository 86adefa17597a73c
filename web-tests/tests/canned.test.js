// Saved (canned) replies in a real headless Chromium: an admin keeps a team reply in the
// menu's dialog, a worker keeps one of their own; typing / in the message box offers them
// (arrow keys, Enter), with {customer_name} and {worker_name} filled in; what is sent is
// text, never HTML. At phone width too, with axe-core on the open suggestions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signIn, shot, apiToken, browserSuite, apiPost } from '../lib/harness.js';

const suite = browserSuite();

const T = { timeout: 180000 };


async function openReplies(page) {
  await page.locator('.me-btn').click();
  await page.getByRole('menuitem', { name: 'Saved replies' }).click();
  return page.getByRole('dialog', { name: 'Saved replies' });
}

test('the team keeps replies, a worker keeps their own, and / offers them in a chat', T, async () => {
  // A customer's chat, assigned to Walt.
  const user = await apiToken(suite.srv.url, 'user1@nati.test');
  const { chat } = await apiPost(suite.srv.url, user, '/api/chat/start', { topic: 'Winter tyres', message: 'Are my winter tyres in?' });
  const adminToken = await apiToken(suite.srv.url, 'admin@nati.test');
  const workers = await (await fetch(`${suite.srv.url}/api/admin/accounts?role=worker`, { headers: { authorization: `Bearer ${adminToken}` } })).json();
  const walt = (workers.accounts || workers).find((a) => a.name === 'Walt Worker');
  await apiPost(suite.srv.url, adminToken, '/api/chat/assign_worker', { chat_id: chat.chat_id, worker_id: walt.id });

  // The admin adds a team reply in the dialog.
  const admin = await suite.session();
  const a = admin.page;
  await signIn(a, suite.srv.url, 'admin@nati.test');
  let dlg = await openReplies(a);
  await dlg.locator('.muted', { hasText: 'No saved replies yet.' }).waitFor();
  await dlg.getByLabel('Shortcut').fill('tyres');
  await dlg.getByLabel('Text').fill('Hello {customer_name}, your tyres are in.');
  assert.equal(await dlg.getByLabel('For the whole team').isChecked(), true);
  await dlg.getByRole('button', { name: 'Add reply' }).click();
  dlg = a.getByRole('dialog', { name: 'Saved replies' });
  await dlg.locator('.replies li', { hasText: '/tyres' }).locator('.tag', { hasText: 'team' }).waitFor();
  // Edit it: the form comes back filled in.
  await dlg.getByRole('button', { name: 'Edit /tyres' }).click();
  dlg = a.getByRole('dialog', { name: 'Saved replies' });
  assert.equal(await dlg.getByLabel('Text').inputValue(), 'Hello {customer_name}, your tyres are in.');
  await dlg.getByLabel('Text').fill('Hello {customer_name}, your <b>tyres</b> are in. {worker_name}');
  await dlg.getByRole('button', { name: 'Save changes' }).click();
  dlg = a.getByRole('dialog', { name: 'Saved replies' });
  await dlg.locator('.replies li .reply-text', { hasText: 'your <b>tyres</b> are in. {worker_name}' }).waitFor();
  await shot(a, 'saved-replies-admin');
  await dlg.getByRole('button', { name: 'Close' }).click();

  // Walt, at phone width, adds his own and uses the team's.
  const worker = await suite.session({ width: 390, height: 844, mobile: true });
  const w = worker.page;
  await signIn(w, suite.srv.url, 'worker1@nati.test');
  dlg = await openReplies(w);
  await dlg.locator('.replies li', { hasText: '/tyres' }).waitFor();
  assert.equal(await dlg.getByRole('button', { name: 'Delete /tyres' }).count(), 0, "a team reply is the admins' to delete");
  assert.equal(await dlg.getByLabel('For the whole team').count(), 0);
  await dlg.getByLabel('Shortcut').fill('/Tyre-date');
  await dlg.getByLabel('Text').fill('We can fit them on Saturday, {customer_name}.');
  await dlg.getByRole('button', { name: 'Add reply' }).click();
  dlg = w.getByRole('dialog', { name: 'Saved replies' });
  await dlg.locator('.replies li', { hasText: '/tyre-date' }).locator('.tag', { hasText: 'mine' }).waitFor();
  await dlg.getByRole('button', { name: 'Close' }).click();

  await w.locator('.chat-item', { hasText: 'Umar User' }).click();
  await w.locator('.msg.in .text', { hasText: 'Are my winter tyres in?' }).waitFor();
  const box = w.locator('.composer-input');
  await box.fill('/tyre');
  const list = w.getByRole('listbox', { name: 'Canned replies' });
  await list.waitFor();
  const options = list.getByRole('option');
  await options.nth(1).waitFor();
  assert.equal(await options.count(), 2);
  assert.equal(await options.nth(0).getAttribute('aria-selected'), 'true');
  await options.filter({ hasText: '/tyres' }).locator('.pv', { hasText: 'Hello Umar User, your <b>tyres</b> are in. Walt Worker' }).waitFor();
  await shot(w, 'saved-replies-suggest');
  await box.fill('/tyres');
  // The list is drawn again after the input event: wait for it, then count.
  await options.nth(1).waitFor({ state: 'detached' });
  assert.equal(await options.count(), 1, 'the list narrows as you type');
  await box.press('Enter');
  await list.waitFor({ state: 'hidden' });
  assert.equal(await box.inputValue(), 'Hello Umar User, your <b>tyres</b> are in. Walt Worker');
  // On a phone Enter is a new line: the send button sends.
  await w.getByRole('button', { name: 'Send message' }).click();
  const sent = w.locator('.msg.mine .text', { hasText: 'Hello Umar User, your <b>tyres</b> are in.' });
  await sent.waitFor();
  assert.equal(await sent.locator('b').count(), 0, 'sent as text, not HTML');
  await a.locator('.chat-item', { hasText: 'Umar User' }).click();
  await a.locator('.msg .text', { hasText: 'your <b>tyres</b> are in. Walt Worker' }).waitFor();

  // Arrow keys move through the choices; Escape closes them and leaves the text.
  await box.fill('/');
  await list.waitFor();
  // By shortcut: /tyre-date, then /tyres. Up from the first wraps to the last.
  assert.match(await options.nth(0).textContent(), /^\/tyre-date/);
  await box.press('ArrowUp');
  assert.equal(await options.nth(1).getAttribute('aria-selected'), 'true');
  assert.equal(await box.getAttribute('aria-activedescendant'), await options.nth(1).getAttribute('id'));
  await box.press('ArrowDown');
  assert.equal(await options.nth(0).getAttribute('aria-selected'), 'true');
  await box.press('Enter');
  assert.equal(await box.inputValue(), 'We can fit them on Saturday, Umar User.');
  await box.fill('/ty');
  await list.waitFor();
  await box.press('Escape');
  await list.waitFor({ state: 'hidden' });
  assert.equal(await box.inputValue(), '/ty');
  await box.fill('/nothing-like-this');
  assert.equal(await list.isVisible(), false);

  for (const s of suite.sessions) assert.deepEqual(s.page.problems, [], 'no script errors, CSP violations or dialogs');
});
