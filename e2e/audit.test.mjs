// The GraphQL over HTTP spec's audit suite (graphql-http) against /query.
// A MUST audit that fails fails the test; SHOULD and MAY findings are
// printed, and the ones we know of are listed below, so that a new one shows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { auditServer } from 'graphql-http';
import { startGateway } from './gateway.mjs';

// Known SHOULD/MAY findings (audit id: why). They come from gqlgen's
// transports: with Accept: application/json a request error is answered 422,
// not 200 (or 400); with application/graphql-response+json the status is 400
// as it should be, but the body still has "data": null. Drop an entry when
// the gateway fixes it.
const KNOWN = {
  '3E3A': 'MAY 400 on invalid parameters: a request without a query is answered like a validation failure (200 with application/json)',
};

let gateway;
let results;

before(async () => {
  gateway = await startGateway({ name: 'gateway-audit' });
  results = await auditServer({ url: `${gateway.url}/query` });
});
after(() => gateway?.stop());

async function describe(r) {
  let body = '';
  try {
    body = (await r.response.clone().text()).slice(0, 160);
  } catch {
    // body already read by the audit
  }
  return `${r.status.toUpperCase()} ${r.id} ${r.name}\n    ${r.reason}\n    ` +
    `got ${r.response.status} ${r.response.headers.get('content-type')} ${body}`;
}

test('GraphQL over HTTP audits: no MUST fails', async () => {
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  for (const r of results) counts[r.status]++;
  const findings = results.filter((r) => r.status !== 'ok');
  console.log(`graphql-http audits: ${results.length} run, ` +
    Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', '));
  for (const r of findings) console.log(await describe(r));

  const mustFails = findings.filter((r) => r.status === 'error' || r.name.startsWith('MUST'));
  assert.deepEqual(mustFails.map((r) => `${r.id} ${r.name}: ${r.reason}`), [], 'MUST audits failed');
});

test('GraphQL over HTTP audits: no SHOULD/MAY findings beyond the known ones', () => {
  const unknown = results.filter((r) => r.status !== 'ok' && !KNOWN[r.id]);
  assert.deepEqual(unknown.map((r) => `${r.id} ${r.name}: ${r.reason}`), []);
});
