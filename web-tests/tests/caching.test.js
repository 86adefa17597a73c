// What the browser transfers: the widget's first open (everything the host page and the
// opened widget fetch from the chat server, as sent over the wire, compressed) and a second
// visit, which must fetch no fingerprinted file again, not even to revalidate it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, hostSite, note } from '../lib/harness.js';

const LOADER_MAX = 3 * 1024; // compressed, as transferred
const FIRST_OPEN_MAX = 30 * 1024; // every static file of the first widget open, as transferred
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

/** Every response from the chat server in this context, with what went over the wire. */
function record(context) {
  const seen = [];
  context.on('response', async (r) => {
    if (!r.url().startsWith(srv.url)) return;
    const u = new URL(r.url());
    let sizes = { responseBodySize: 0, responseHeadersSize: 0 };
    try { sizes = await r.request().sizes(); } catch { /* gone */ }
    const h = await r.allHeaders().catch(() => ({}));
    seen.push({
      path: u.pathname,
      status: r.status(),
      encoding: h['content-encoding'] || '',
      cache: h['cache-control'] || '',
      body: sizes.responseBodySize,
      headers: sizes.responseHeadersSize,
    });
  });
  return seen;
}

const fingerprinted = (path) => /^\/assets\/[0-9a-f]{10}\//.test(path);

test('first widget open is small and compressed; a second visit fetches no fingerprinted file', T, async () => {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const seen = record(context);
  const page = await context.newPage();
  await page.goto(host.url);
  await page.locator('[data-nati-chat] button.launch').click();
  const f = page.frameLocator('[data-nati-chat] iframe');
  await f.getByLabel('Message', { exact: true }).waitFor();
  await page.waitForTimeout(500);

  const statics = seen.filter((r) => !r.path.startsWith('/api/'));
  const loader = statics.find((r) => r.path === '/widget.js');
  assert.ok(loader, `the loader was fetched: ${JSON.stringify(statics)}`);
  assert.match(loader.encoding, /^(br|gzip)$/);
  assert.ok(loader.body <= LOADER_MAX, `loader ${loader.body} bytes`);
  const assets = statics.filter((r) => r.path.startsWith('/assets/'));
  assert.ok(assets.length >= 5, JSON.stringify(statics));
  for (const a of assets) {
    assert.ok(fingerprinted(a.path), `fingerprinted: ${a.path}`);
    assert.match(a.cache, /immutable/, a.path);
    if (/\.(js|css)$/.test(a.path)) assert.match(a.encoding, /^(br|gzip)$/, a.path);
  }
  const total = statics.reduce((n, r) => n + r.body + r.headers, 0);
  const line = `first widget open: ${statics.length} static files, ${total} bytes transferred (limit ${FIRST_OPEN_MAX}); loader ${loader.body} bytes ${loader.encoding} (limit ${LOADER_MAX})`;
  console.log(line);
  note(line);
  assert.ok(total <= FIRST_OPEN_MAX, line);

  // A second visit: a new tab of the same browser, the page and the widget again.
  const before = seen.length;
  const again = await context.newPage();
  await again.goto(host.url);
  await again.locator('[data-nati-chat] button.launch').click();
  await again.frameLocator('[data-nati-chat] iframe').getByLabel('Message', { exact: true }).waitFor();
  await again.waitForTimeout(500);
  // What went over the wire: a file used from the browser's cache transfers nothing (its
  // transfer size is 0; playwright reports the body size as minus the headers' size).
  const wire = (r) => r.status === 304 || r.body + r.headers > 0;
  const page2 = seen.slice(before).find((r) => r.path === '/widget');
  assert.ok(page2 && wire(page2), 'the widget page itself is asked for again (no-cache): the measure sees a fetch');
  const revisit = seen.slice(before).filter((r) => fingerprinted(r.path));
  const asked = revisit.filter(wire);
  const line2 = `second visit: ${asked.length} fingerprinted files fetched or revalidated (${revisit.length} used from cache)`;
  console.log(line2);
  note(line2);
  assert.deepEqual(asked.map((r) => r.path), [], line2);
  await context.close();
});
