// A fresh install (no --demo, no accounts): the server prints the command that creates the
// first admin, and the login page says the same; once an admin exists, it says nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, launchBrowser, newSession, shots, BIN, PASSWORD } from '../lib/harness.js';

const T = { timeout: 120000 };
let srv;
let browser;

before(async () => {
  srv = await startServer({ demo: false });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.dispose();
});

test('a fresh install says how to create the first admin, then stops saying it', T, async () => {
  assert.match(srv.log(), /No admin account yet/);
  assert.match(srv.log(), /nati-chat account create --role admin --email you@example.com/);
  const s = await newSession(browser);
  await s.page.goto(`${srv.url}/login`);
  const note = s.page.locator('.first-run');
  await note.waitFor();
  assert.match(await note.textContent(), /New installation: nobody can sign in yet\..*nati-chat account create --role admin/);
  await shots(s.page, 'login-first-run');

  // The operator runs the printed command (with a real address), and signs in.
  execFileSync(BIN, ['account', 'create', '--role', 'admin', '--email', 'first@nati.test', '--name', 'First Admin', '--password', PASSWORD],
    { env: { ...process.env, NATI_DATA_DIR: srv.dataDir }, stdio: 'ignore' });
  await s.page.reload();
  await s.page.getByLabel('Email', { exact: true }).waitFor();
  await s.page.waitForTimeout(300);
  assert.equal(await note.isHidden(), true, 'no hint once an admin exists');
  await s.page.getByLabel('Email', { exact: true }).fill('first@nati.test');
  await s.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await s.page.getByRole('button', { name: 'Sign in' }).click();
  await s.page.waitForURL((u) => u.pathname === '/admin');
  assert.deepEqual(s.page.problems, []);
  await s.context.close();
});
