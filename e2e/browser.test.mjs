// Drives GraphiQL at the gateway's "/" in a real Chromium: the page must load
// with no request to any other host and no Content-Security-Policy violation,
// and its default query must come back with customers' names.
//
// CHROMIUM_PATH the browser; default /usr/bin/chromium (Debian: apt-get
//               install -y chromium). playwright-core never downloads one.
// GATEWAY_URL   test this running gateway instead of starting one (see
//               gateway.mjs); it must need no token, like one started with -demo
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { startGateway, artifactsDir } from './gateway.mjs';

let gateway;
before(async () => {
  gateway = await startGateway({ name: 'gateway-browser' });
});
after(() => gateway?.stop());

test('GraphiQL runs the default query using the gateway only', { timeout: 60_000 }, async () => {
  const base = new URL('/', gateway.url);

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    // A fresh context: no stored GraphiQL tabs, so the page opens with its
    // default query.
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();

    const foreign = [];
    const problems = [];
    page.on('request', (req) => {
      const u = new URL(req.url());
      if (u.protocol !== 'data:' && u.host !== base.host) foreign.push(req.url());
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    // Chromium also logs CSP violations to the console; the event names the
    // directive, which makes a failure easier to read.
    await page.exposeFunction('reportCSPViolation', (v) => problems.push(`CSP violation: ${v}`));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) =>
        window.reportCSPViolation(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`));
    });

    try {
      const resp = await page.goto(base.href, { waitUntil: 'networkidle' });
      assert.equal(resp.status(), 200, 'GET /');
      assert.match(resp.headers()['content-security-policy'] ?? '', /script-src 'self'/);

      const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/query' && r.request().method() === 'POST');
      await page.locator('.graphiql-execute-button').click();
      // The browser accepts compressed answers, and gets one.
      assert.match((await answer).headers()['content-encoding'] ?? '(none)', /^(zstd|gzip)$/);
      const result = page.locator('.result-window');
      // Any non-empty name: the gateway's data is not fixed ("Kevin v3", ...).
      await result.getByText(/"name": "[^"]+"/).first().waitFor({ timeout: 15_000 });
      const text = await result.innerText();
      assert.match(text, /"customers"/);
      assert.doesNotMatch(text, /"errors"/, 'the default query came back with errors');
    } finally {
      await mkdir(artifactsDir, { recursive: true });
      await page.screenshot({ path: resolve(artifactsDir, 'graphiql.png') });
    }

    assert.deepEqual(foreign, [], 'requests to hosts other than the gateway');
    assert.deepEqual(problems, [], 'console errors or CSP violations');
  } finally {
    await browser.close();
  }
});
