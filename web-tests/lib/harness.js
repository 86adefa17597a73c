// Test harness: the real server binary on 127.0.0.1 port 0 with --demo and a temp data
// dir, Debian's Chromium driven by playwright-core, screenshots, small assertions.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '..', '..');
export const BIN = process.env.CHAT_SERVER_BIN || join(REPO, 'target', 'debug', 'nati-chat');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = process.env.SCREENSHOT_DIR || join(REPO, 'target', 'screenshots');
export const SIZES = process.env.WIDGET_SIZES_FILE || join(REPO, 'target', 'widget-sizes.txt');
export const PASSWORD = 'demo-password';

/** Start the server; resolves once it prints `listening on http://127.0.0.1:PORT`. */
export async function startServer({ env = {}, dataDir, port = 0, demo = true } = {}) {
  const dir = dataDir || mkdtempSync(join(tmpdir(), 'nati-web-test-'));
  const child = spawn(BIN, ['serve', '--bind', `127.0.0.1:${port}`, '--data-dir', dir, ...(demo ? ['--demo'] : [])], {
    env: {
      ...process.env,
      NATI_LOGIN_RATE_PER_MINUTE: '100000',
      NATI_GUEST_START_RATE_PER_MINUTE: '100000',
      NO_COLOR: '1',
      RUST_LOG: process.env.RUST_LOG || 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not start within 30 s:\n${log}`)), 30000);
    const onData = (d) => {
      log += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) { clearTimeout(timer); ok(m[1]); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => { log += d; });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`server exited (${code}) before listening:\n${log}`)); });
  });
  const stop = () => new Promise((ok) => {
    if (child.exitCode !== null) return ok();
    child.once('exit', () => ok());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
  return {
    url,
    port: Number(new URL(url).port),
    dataDir: dir,
    log: () => log,
    stop,
    async dispose() {
      await this.stop();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Launch Debian's Chromium headless with a fresh profile (playwright makes a temp user-data-dir). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: false,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
}

/** A browser session (own cookies and storage). Collects page errors and CSP violations. */
export async function newSession(browser, { width = 1366, height = 768, mobile = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, isMobile: mobile, hasTouch: mobile, deviceScaleFactor: 1 });
  const page = await context.newPage();
  watch(page);
  return { context, page };
}

/** Record uncaught errors, CSP violations and dialogs (an alert would mean injected script ran). */
export function watch(page) {
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(t)) page.problems.push(`csp: ${t}`);
  });
  page.on('dialog', (d) => { page.problems.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
  return page;
}

/** Sign in through the login page. */
export async function signIn(page, base, email) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
  await page.locator('.chat-list').waitFor();
}

/**
 * Words that are never meant for a person: a program's value leaking into the page
 * (`replaceChildren(null)` shows "null"). Checked in the page and every frame in it
 * (the widget's iframe), on the text a person sees.
 */
const JUNK = /(^|[^\w])(null|undefined|NaN|\[object Object\])(?=$|[^\w])/;

/** Fails when visible text anywhere on the page shows a program value (see JUNK). */
export async function assertNoJunkText(page, where = '') {
  for (const frame of page.frames()) {
    let text;
    try {
      text = await frame.evaluate(() => document.body ? document.body.innerText : '');
    } catch { continue; } // a frame that went away meanwhile
    const line = text.split('\n').find((l) => JUNK.test(l));
    if (line !== undefined) {
      throw new Error(`visible text shows a program value${where ? ` (${where})` : ''}: ${JSON.stringify(line.trim())} in ${frame.url()}`);
    }
  }
}

const AXE = readFileSync(join(REPO, 'web-tests', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
/** Every axe finding of these impacts fails a test. */
const AXE_FAIL = new Set(['serious', 'critical']);
export const axeLog = [];

/**
 * axe-core (WCAG 2.1 A/AA and best practices) on the page and every frame in it (the
 * widget's iframe): fails on any serious or critical violation, naming the rule, the
 * element and what axe says to fix. Runs through DevTools, so the pages' CSP stays as is.
 */
export async function assertAccessible(page, where = '') {
  const found = [];
  for (const frame of page.frames()) {
    let result;
    try {
      if (!(await frame.evaluate(() => typeof window.axe === 'object'))) await frame.evaluate(AXE);
      result = await frame.evaluate(() => window.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
        resultTypes: ['violations'],
      }));
    } catch { continue; } // a frame that went away meanwhile
    for (const v of result.violations) {
      if (!AXE_FAIL.has(v.impact)) continue;
      for (const n of v.nodes) found.push(`${v.impact} ${v.id}: ${n.target.join(' ')} — ${n.failureSummary.replace(/\s+/g, ' ')} (${frame.url()})`);
    }
  }
  axeLog.push(`${where}: ${found.length}`);
  if (found.length) throw new Error(`accessibility (${where}): ${found.length} serious/critical axe findings:\n${found.join('\n')}`);
}

export async function shot(page, name) {
  await assertNoJunkText(page, name);
  await assertAccessible(page, name);
  mkdirSync(SHOTS, { recursive: true });
  const vp = page.viewportSize();
  const path = join(SHOTS, `${name}-${vp.width}x${vp.height}.png`);
  await page.screenshot({ path });
  return path;
}

/** Screenshots at phone and desktop size; `prepare(page, narrow)` sets the scene after each resize. */
export async function shots(page, name, prepare) {
  for (const [w, h] of [[390, 844], [1366, 768]]) {
    await page.setViewportSize({ width: w, height: h });
    if (prepare) await prepare(page, w < 900);
    await page.evaluate(() => document.querySelector('.toasts')?.replaceChildren());
    await page.waitForTimeout(250);
    await shot(page, name);
  }
}

/** No horizontal scrolling at this width. */
export async function horizontalOverflow(page) {
  return page.evaluate(() => {
    const d = document.documentElement;
    return d.scrollWidth > d.clientWidth + 1 ? `${d.scrollWidth} > ${d.clientWidth}` : null;
  });
}

/** A static site on another origin (http://localhost:PORT) that embeds the widget. */
export async function hostSite(chatBase) {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Garage Weber — opening hours</title>
<style>body{font:16px/1.6 Georgia,serif;margin:0;color:#222;background:#faf7f2}
header{background:#7c2d12;color:#fff;padding:1.2rem 1.5rem}main{padding:1.5rem;max-width:40rem}</style></head>
<body><header><h1>Garage Weber</h1><p>Independent Nati Automotive partner</p></header>
<main><h2>Opening hours</h2><p>Monday to Friday, 7:30 to 18:00. Saturday 8:00 to 12:00.</p>
<p>Questions about your car? Use the chat bubble.</p></main>
<script src="${chatBase}/widget.js" async></script></body></html>`;
  const server = createServer((req, res) => {
    if (req.url === '/' || req.url.startsWith('/?')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return { url: `http://localhost:${port}/`, close: () => new Promise((ok) => server.close(ok)) };
}

export function recordSizes(lines) {
  mkdirSync(dirname(SIZES), { recursive: true });
  writeFileSync(SIZES, `${lines.join('\n')}\n`);
}

export function note(line) {
  mkdirSync(dirname(SIZES), { recursive: true });
  appendFileSync(SIZES, `${line}\n`);
}

/** Log in over the API (for checks from the test itself). */
export async function apiToken(base, email) {
  const r = await fetch(`${base}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (!r.ok) throw new Error(`login ${email}: ${r.status}`);
  return (await r.json()).token;
}

export async function apiGet(base, token, path) {
  const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** POST JSON as `token`; fails the test unless the answer is 2xx; the parsed body. */
export async function apiPost(base, token, path, body) {
  const r = await fetch(`${base}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/**
 * One server and one browser for a test file: started before its tests, closed after
 * them, printing the page problems of every session the file opened (`s.sessions`).
 * `s.srv` and `s.browser` are set once the file's tests run.
 */
export function browserSuite(serverOptions) {
  const s = { srv: null, browser: null, sessions: [] };
  before(async () => {
    s.srv = await startServer(serverOptions);
    s.browser = await launchBrowser();
  });
  after(async () => {
    for (const x of s.sessions) if (x.page.problems.length) console.log('page problems:', x.page.problems);
    await s.browser?.close();
    await s.srv?.dispose();
  });
  /** A new session (see newSession) that the suite keeps track of. */
  s.session = async (size) => {
    const x = await newSession(s.browser, size);
    s.sessions.push(x);
    return x;
  };
  return s;
}
