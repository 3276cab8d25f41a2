// Drives GraphiQL at the gateway's "/" in a real Chromium: the page must load
// with no request to any other host and no Content-Security-Policy violation,
// its default query must come back with customers' names, and its
// createCustomer tab must create a customer, then give back the same one when
// run again (its idempotencyKey). The same tab on a gateway without -demo,
// run untouched, must create nobody.
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
import { startGateway, graphql, artifactsDir } from './gateway.mjs';

let gateway;
before(async () => {
  gateway = await startGateway({ name: 'gateway-browser' });
});
after(() => gateway?.stop());

const launch = () => chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});

/**
 * Opens the playground in a fresh context: no stored GraphiQL tabs, so the
 * page opens with its default tabs. foreign collects requests to other
 * hosts, problems console errors, page errors and CSP violations.
 * asDemo: false serves the page as a gateway without -demo would: without
 * its <meta name="gateway-demo">, the one difference.
 */
async function openPlayground(browser, base, { asDemo = true } = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  let unmarked = false;
  if (!asDemo) {
    await page.route(base.href, async (route) => {
      const response = await route.fetch();
      const html = await response.text();
      const marker = /<meta name="gateway-demo" content="true">/;
      unmarked = marker.test(html);
      await route.fulfill({ response, body: html.replace(marker, '') });
    });
  }

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

  const resp = await page.goto(base.href, { waitUntil: 'networkidle' });
  assert.equal(resp.status(), 200, 'GET /');
  assert.match(resp.headers()['content-security-policy'] ?? '', /script-src 'self'/);
  if (!asDemo) assert.ok(unmarked, 'the -demo gateway marked its page, and the mark is gone');
  return { page, foreign, problems };
}

/** Clicks the run button and returns the POST /query answer it caused. */
async function run(page) {
  const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/query' && r.request().method() === 'POST');
  await page.locator('.graphiql-execute-button').click();
  return answer;
}

/** gateway_customer_creates_total by outcome, from the gateway's /metrics. */
async function creates() {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const byOutcome = { created: 0, idempotent_replay: 0, user_error: 0 };
  for (const m of text.matchAll(/^gateway_customer_creates_total\{outcome="([a-z_]+)"\}\s+(\S+)$/gm)) byOutcome[m[1]] = Number(m[2]);
  return byOutcome;
}

/** Switches to the second default tab, the createCustomer example. */
async function openCreateTab(page) {
  // Two tabs, the customers query first and open.
  const tabs = page.getByRole('tab');
  assert.equal(await tabs.count(), 2, 'default tabs');
  assert.equal(await tabs.first().getAttribute('aria-selected'), 'true', 'the first tab is open');
  assert.match(await tabs.nth(1).innerText(), /CreateCustomer/);
  await tabs.nth(1).locator('.graphiql-tab-button').click();
  await page.waitForFunction(() =>
    document.querySelectorAll('[role="tab"]')[1]?.getAttribute('aria-selected') === 'true');
  // GraphiQL reads the operation's name from the editor 100 ms after the
  // switch; run before that, it would send the first tab's name with this
  // tab's document (and get a validation error).
  await page.waitForFunction(() =>
    document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror?.operationName === 'CreateCustomer');
}

/**
 * Runs the open tab's createCustomer as it is: nothing typed. Returns the
 * payload, once the result pane shows it.
 */
async function runCreate(page) {
  const answer = await run(page);
  const sent = answer.request().postDataJSON();
  assert.match(sent.query, /mutation CreateCustomer\b/, "the tab's own mutation");
  assert.equal(sent.operationName, 'CreateCustomer');
  assert.ok('idempotencyKey' in sent.variables.input, 'the example has an idempotencyKey');
  assert.equal(answer.status(), 200);
  assert.equal(answer.headers()['cache-control'], 'no-store', 'a mutation answer is never cached');
  const { data, errors } = await answer.json();
  assert.equal(errors, undefined, JSON.stringify(errors));
  const payload = data.createCustomer;
  // What the user sees: this answer in the result pane.
  const shown = payload.customer ? `"id": "${payload.customer.id}"` : `"code": "${payload.userErrors[0]?.code}"`;
  await page.locator('.result-window').getByText(shown).first().waitFor({ timeout: 15_000 });
  return payload;
}

/** Runs fn with a fresh playground page; screenshot names the artifact. */
async function withPlayground(screenshot, options, fn) {
  const browser = await launch();
  try {
    const { page, foreign, problems } = await openPlayground(browser, new URL('/', gateway.url), options);
    try {
      await fn(page);
    } finally {
      await mkdir(artifactsDir, { recursive: true });
      await page.screenshot({ path: resolve(artifactsDir, screenshot) });
    }
    assert.deepEqual(foreign, [], 'requests to hosts other than the gateway');
    assert.deepEqual(problems, [], 'console errors or CSP violations');
  } finally {
    await browser.close();
  }
}

test('GraphiQL runs the default query using the gateway only', { timeout: 60_000 }, async () => {
  await withPlayground('graphiql.png', {}, async (page) => {
    const answer = await run(page);
    // The browser accepts compressed answers, and gets one.
    assert.match(answer.headers()['content-encoding'] ?? '(none)', /^(zstd|gzip)$/);
    const result = page.locator('.result-window');
    // Any non-empty name: the gateway's data is not fixed ("Kevin v3", ...).
    await result.getByText(/"name": "[^"]+"/).first().waitFor({ timeout: 15_000 });
    const text = await result.innerText();
    assert.match(text, /"customers"/);
    assert.doesNotMatch(text, /"errors"/, 'the default query came back with errors');
  });
});

test("GraphiQL's createCustomer tab creates a customer, and run again gives back the same one", { timeout: 60_000 }, async () => {
  await withPlayground('graphiql-create.png', {}, async (page) => {
    await openCreateTab(page);

    let counted = await creates();
    const first = await runCreate(page);
    assert.deepEqual(first.userErrors, []);
    assert.match(first.customer.id, /^[0-9a-f]{24}$/);
    assert.equal(first.customer.contact.email, 'ada.lovelace@example.com');
    let now = await creates();
    // created on a fresh gateway; a replay on a GATEWAY_URL that ran this example before.
    assert.equal((now.created - counted.created) + (now.idempotent_replay - counted.idempotent_replay), 1,
      'the first run is one create');

    counted = now;
    const again = await runCreate(page);
    now = await creates();
    assert.equal(again.customer?.id, first.customer.id, 'the same customer, by its idempotencyKey');
    assert.deepEqual(again, first);
    assert.equal(now.created - counted.created, 0, 'no second customer');
    assert.equal(now.idempotent_replay - counted.idempotent_replay, 1, 'the second run is a replay');

    // The customer exists upstream, not only in the answer.
    const { body } = await graphql(`${gateway.url}/query`,
      'query($id: ID!) { customer(id: $id) { name contact { email } } }', { id: first.customer.id });
    assert.deepEqual(body.data.customer, { name: first.customer.name, contact: first.customer.contact });
  });
});

test('without -demo, the createCustomer tab run as it is creates nobody', { timeout: 60_000 }, async () => {
  await withPlayground('graphiql-create-real.png', { asDemo: false }, async (page) => {
    await openCreateTab(page);
    const counted = await creates();
    const { customer, userErrors } = await runCreate(page);
    const now = await creates();
    assert.equal(customer, null);
    assert.deepEqual(userErrors.map((e) => [e.code, e.field.join('.')]), [
      ['INVALID', 'input.email'], ['INVALID', 'input.name'], ['INVALID', 'input.password'], ['INVALID', 'input.idempotencyKey'],
    ]);
    assert.equal(now.created - counted.created, 0, 'nothing created');
    assert.equal(now.user_error - counted.user_error, 1, 'one refused create');
  });
});
