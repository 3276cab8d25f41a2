// urql (@urql/core, in Node) as a frontend app uses it (frontend/urql.mjs):
// the whole sample list with customers(page, sort), every customer once;
// createCustomer, after which its document cache fetches the list afresh
// and the new customer is in it; and a browser on an allowed origin may
// send what urql sends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, allCustomerIds, preflight, recordRequests } from './gateway.mjs';
import { createUrqlClient, allCustomersByPage, createCustomer, CUSTOMERS_PAGE } from './frontend/urql.mjs';

const ORIGIN = 'http://localhost:5173';
// A gateway started elsewhere (GATEWAY_URL) does not allow ORIGIN.
const externalGateway = process.env.GATEWAY_URL ? 'GATEWAY_URL: the gateway was not started with CORS_ALLOWED_ORIGINS' : false;
const TOKEN = 'e2e-frontend-token'; // -demo takes any bearer token

let gateway, query;
before(async () => {
  gateway = await startGateway({ name: 'gateway-urql', env: { CORS_ALLOWED_ORIGINS: ORIGIN } });
  query = `${gateway.url}/query`;
});
after(() => gateway?.stop());

test('customers(page, sort) walks the whole list, every customer once', async () => {
  const truth = await allCustomerIds(gateway.url, 'NAME');
  const client = createUrqlClient(query, TOKEN);
  const requests = recordRequests(query);
  let customers;
  try {
    customers = await allCustomersByPage(client, 'NAME');
  } finally {
    requests.stop();
  }
  const ids = customers.map((c) => c.id);
  const duplicates = ids.length - new Set(ids).size;
  assert.equal(duplicates, 0, 'no customer twice');
  assert.deepEqual(ids, truth, 'the same customers in the same order');
  assert.deepEqual([...ids].sort(), [...(await allCustomerIds(gateway.url))].sort(), 'the same customers as by createdAt');
  assert.equal(requests.count, Math.ceil(truth.length / 20), 'one request per page of 20');
  // urql sends queries as GET when they fit in a URL: a cacheable request.
  assert.ok(requests.requests.every((r) => r.method === 'GET'), 'queries as GET');
  console.log(`@urql/core: ${requests.count} pages (sort: NAME), ${ids.length} customers, ${duplicates} duplicates`);
});

// The write side: a create, then the list urql fetches next.
test('createCustomer: the new customer is in the list urql fetches next', async () => {
  const client = createUrqlClient(query, TOKEN);
  const before = await allCustomersByPage(client, 'CREATED_AT');
  const email = `e2e-urql-${process.pid}-${Date.now()}@example.com`;
  const created = await createCustomer(client, { email, name: 'Urql E2E', password: 'correct horse battery' });
  assert.deepEqual(created.userErrors, []);
  assert.equal(created.customer.contact.email, email);
  assert.equal(created.customer.name, 'Urql E2E');

  // The same client, the same queries: the mutation returned a Customer, so
  // urql dropped the cached pages (they hold customers) and asks again.
  const requests = recordRequests(query);
  let after;
  try {
    after = await allCustomersByPage(client, 'CREATED_AT');
  } finally {
    requests.stop();
  }
  assert.ok(requests.count > 0, 'the list was fetched again, not served from urql\'s cache');
  assert.equal(after.length, before.length + 1);
  assert.equal(after.at(-1).id, created.customer.id, 'a new customer comes last by createdAt');

  // The same email again, in other case: a userError, no customer.
  const again = await createCustomer(client, { email: email.toUpperCase(), name: 'Urql E2E', password: 'correct horse battery' });
  assert.equal(again.customer, null);
  assert.equal(again.userErrors.length, 1);
  assert.equal(again.userErrors[0].code, 'TAKEN');
  assert.deepEqual(again.userErrors[0].field, ['input', 'email']);
  console.log(`@urql/core: createCustomer added the ${after.length}th customer; the same email again: TAKEN`);
});

test('a browser on an allowed origin may send what urql sends', { skip: externalGateway }, async () => {
  const client = createUrqlClient(query, TOKEN);
  const requests = recordRequests(query);
  try {
    await client.query(CUSTOMERS_PAGE, { page: 1, sort: 'NAME' }).toPromise();
  } finally {
    requests.stop();
  }
  for (const request of requests.requests) {
    const { res, asked } = await preflight(query, ORIGIN, request);
    assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN, `preflight for ${request.method} with ${asked} refused (HTTP ${res.status})`);
    const allowed = res.headers.get('access-control-allow-headers')?.toLowerCase().split(/\s*,\s*/) ?? [];
    for (const h of asked) assert.ok(allowed.includes(h), `${h} allowed: ${allowed}`);
  }
});
