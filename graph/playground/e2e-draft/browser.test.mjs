// Drives GraphiQL at the gateway's "/" in a real Chromium: the page must load
// with no request to any other host and no Content-Security-Policy violation,
// and its default query must come back with customers' names.
//
//   GATEWAY_URL=http://127.0.0.1:8080 node --test
//
// GATEWAY_URL   the gateway's base URL (required), e.g. one started with -demo,
//               which needs no token
// ARTIFACTS_DIR where graphiql.png goes; default: artifacts/ beside this file
// CHROMIUM_PATH the browser; default /usr/bin/chromium. playwright-core never
//               downloads one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const gateway = process.env.GATEWAY_URL;
const artifacts = process.env.ARTIFACTS_DIR
  ? resolve(process.env.ARTIFACTS_DIR)
  : fileURLToPath(new URL('./artifacts/', import.meta.url));

test('GraphiQL runs the default query using the gateway only', { timeout: 60_000 }, async () => {
  assert.ok(gateway, 'set GATEWAY_URL to the gateway base URL, e.g. http://127.0.0.1:8080');
  const base = new URL('/', gateway);

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

      await page.locator('.graphiql-execute-button').click();
      const result = page.locator('.result-window');
      // Any non-empty name: the gateway's data is not fixed ("Kevin v3", ...).
      await result.getByText(/"name": "[^"]+"/).first().waitFor({ timeout: 15_000 });
      const text = await result.innerText();
      assert.match(text, /"customers"/);
      assert.doesNotMatch(text, /"errors"/, 'the default query came back with errors');
    } finally {
      await mkdir(artifacts, { recursive: true });
      await page.screenshot({ path: resolve(artifacts, 'graphiql.png') });
    }

    assert.deepEqual(foreign, [], 'requests to hosts other than the gateway');
    assert.deepEqual(problems, [], 'console errors or CSP violations');
  } finally {
    await browser.close();
  }
});
