// Satisfaction ratings in a real headless Chromium: a closed chat asks its customer "How
// did we do?" with 1-5 stars (radio buttons, keyboard-usable) and a comment, once; after
// sending, thanks and the stars; the staff see the rating live in the chat's story and as
// a tag in their list. In the customer panel and on the guest page, at phone width, with
// axe-core on each screen shot.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signIn, shot, apiToken, horizontalOverflow, browserSuite, apiPost } from '../lib/harness.js';

const suite = browserSuite();

const T = { timeout: 180000 };


test('a customer rates a closed chat in the panel; the staff see it', T, async () => {
  const userToken = await apiToken(suite.srv.url, 'user1@nati.test');
  const { chat } = await apiPost(suite.srv.url, userToken, '/api/chat/start', { topic: 'Oil change', message: 'Is my car ready?' });
  const adminToken = await apiToken(suite.srv.url, 'admin@nati.test');
  await apiPost(suite.srv.url, adminToken, '/api/chat/send_message', { chat_id: chat.chat_id, message: 'Yes, come by any time.' });
  await apiPost(suite.srv.url, adminToken, '/api/chat/close', { chat_id: chat.chat_id });

  const customer = await suite.session({ width: 390, height: 844, mobile: true });
  const admin = await suite.session();
  const u = customer.page;
  const a = admin.page;
  await signIn(a, suite.srv.url, 'admin@nati.test');
  await a.locator('.chat-item', { hasText: 'Umar User' }).click();
  await a.locator('.msg.out .text', { hasText: 'Yes, come by any time.' }).waitFor();

  await signIn(u, suite.srv.url, 'user1@nati.test');
  await u.locator('.chat-item', { hasText: 'Oil change' }).click();
  const form = u.locator('.rate-form');
  await form.getByRole('group', { name: 'How did we do?' }).waitFor();
  // Sending without stars says what is missing.
  await form.getByRole('button', { name: 'Send rating' }).click();
  await form.getByRole('alert').filter({ hasText: 'Choose 1 to 5 stars.' }).waitFor();
  // Keyboard: the stars are one radio group.
  await form.getByRole('radio', { name: '3 stars' }).check();
  await u.keyboard.press('ArrowRight');
  assert.equal(await form.getByRole('radio', { name: '4 stars' }).isChecked(), true);
  assert.equal(await form.locator('.star.on').count(), 4);
  await form.getByLabel('Anything to add? (optional)').fill('Fast, and <i>kind</i>');
  await shot(u, 'rating-ask');
  await form.getByRole('button', { name: 'Send rating' }).click();
  await u.locator('.rate-thanks', { hasText: 'You rated this chat 4 of 5. Thank you!' }).waitFor();
  assert.equal(await u.locator('.rate-form').count(), 0, 'asked once');
  await u.locator('.msg.sys', { hasText: 'Umar User rated the chat 4 of 5: “Fast, and <i>kind</i>”' }).waitFor();
  assert.equal(await u.locator('.msg.sys i').count(), 0, 'text, never HTML');
  await shot(u, 'rating-thanks');
  assert.equal(await horizontalOverflow(u), null);
  await u.setViewportSize({ width: 1366, height: 768 });
  await u.locator('.rate-thanks').waitFor();
  await shot(u, 'rating-thanks');

  // The admin sees the line live and the rating on the chat's row.
  await a.locator('.msg.sys', { hasText: 'rated the chat 4 of 5' }).waitFor();
  await a.locator('.chat-item', { hasText: 'Umar User' }).locator('.tag', { hasText: 'Rated 4/5' }).waitFor();

  // A reload shows the thanks, not the form again.
  await u.reload();
  const row = u.locator('.chat-item', { hasText: 'Oil change' });
  await row.waitFor({ state: 'attached' });
  if (await row.isVisible()) await row.click();
  await u.locator('.rate-thanks').waitFor();
  assert.equal(await u.locator('.rate-form').count(), 0);

  for (const s of suite.sessions) assert.deepEqual(s.page.problems, [], 'no script errors, CSP violations or dialogs');
});

test('a guest rates on the guest page at phone width', T, async () => {
  const s = await suite.session({ width: 360, height: 740, mobile: true });
  const p = s.page;
  await p.goto(`${suite.srv.url}/guest`);
  await p.getByLabel('Message', { exact: true }).fill('Do you fit tow bars?');
  await p.getByRole('button', { name: /Start chat|Leave a message/ }).click();
  await p.locator('.msg.mine .text', { hasText: 'tow bars' }).waitFor();
  // The admin answers and closes it: the guest is asked at once.
  const adminToken = await apiToken(suite.srv.url, 'admin@nati.test');
  const list = await (await fetch(`${suite.srv.url}/api/chat/list?q=tow`, { headers: { authorization: `Bearer ${adminToken}` } })).json();
  const chatId = list.chats[0].chat_id;
  await apiPost(suite.srv.url, adminToken, '/api/chat/send_message', { chat_id: chatId, message: 'We do, from 250 euros.' });
  await apiPost(suite.srv.url, adminToken, '/api/chat/close', { chat_id: chatId });
  const form = p.locator('.rate-form');
  await form.getByRole('group', { name: 'How did we do?' }).waitFor();
  await form.getByRole('radio', { name: '5 stars' }).check();
  await shot(p, 'rating-guest');
  await form.getByRole('button', { name: 'Send rating' }).click();
  await p.locator('.rate-thanks', { hasText: 'You rated this chat 5 of 5' }).waitFor();
  assert.equal(await horizontalOverflow(p), null);
  assert.deepEqual(p.problems, []);
});
