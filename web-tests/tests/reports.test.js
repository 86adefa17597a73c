// Reports in a real headless Chromium: after a chat is answered, resolved and rated, the
// admin's Reports tab shows the week in figures, bar charts (pictures with a text
// alternative) and tables, and offers the CSV. Desktop and phone width, with axe-core.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signIn, shots, apiToken, browserSuite, apiPost } from '../lib/harness.js';

const suite = browserSuite();

const T = { timeout: 180000 };


test('the week in numbers, charts, tables and CSV', T, async () => {
  const user = await apiToken(suite.srv.url, 'user1@nati.test');
  const admin = await apiToken(suite.srv.url, 'admin@nati.test');
  const { chat } = await apiPost(suite.srv.url, user, '/api/chat/start', { topic: 'Brakes', message: 'Squeaky brakes' });
  await apiPost(suite.srv.url, admin, '/api/chat/send_message', { chat_id: chat.chat_id, message: 'Come in at 9.' });
  await apiPost(suite.srv.url, admin, '/api/chat/close', { chat_id: chat.chat_id });
  await apiPost(suite.srv.url, user, '/api/chat/rate', { chat_id: chat.chat_id, stars: 5 });

  const s = await suite.session();
  const a = s.page;
  await signIn(a, suite.srv.url, 'admin@nati.test');
  await a.getByRole('button', { name: 'Reports', exact: true }).click();
  await a.getByRole('heading', { name: 'Reports' }).waitFor();
  await a.locator('.kpi', { hasText: 'Average rating' }).locator('.kpi-v', { hasText: '5.00' }).waitFor();
  await a.getByRole('img', { name: /Chats started, per day/ }).waitFor();
  const days = a.getByRole('table', { name: 'Per day' });
  await days.waitFor();
  assert.equal(await days.locator('tbody tr').count(), 7);
  const csv = await a.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
  assert.match(csv, /^\/api\/admin\/reports\?from=\d{4}-\d{2}-\d{2}&to=\d{4}-\d{2}-\d{2}&format=csv$/);
  const body = await a.evaluate(async (href) => (await fetch(href)).text(), csv);
  assert.match(body, /^kind,day,worker_id,worker,chats,/);
  assert.match(body, /\ntotal,[^\n]*,1,1,1,/);
  await shots(a, 'reports-admin');
  assert.deepEqual(a.problems, []);
});
