// Apollo Client 4 (core, in Node) as a frontend app uses it
// (frontend/apollo.mjs): it pages through the whole sample list with
// relayStylePagination and fetchMore, sees every customer exactly once,
// refetches one by node(id:) into the same cache entry, reads a refused
// cursor as a GraphQL error, and a browser on an allowed origin may send
// what it sends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { startGateway, allCustomerIds, preflight, graphql, recordRequests } from './gateway.mjs';
import { createApolloClient, loadAllCustomers, CUSTOMER, CUSTOMERS } from './frontend/apollo.mjs';

const ORIGIN = 'http://localhost:5173';
// A gateway started elsewhere (GATEWAY_URL) does not allow ORIGIN.
const externalGateway = process.env.GATEWAY_URL ? 'GATEWAY_URL: the gateway was not started with CORS_ALLOWED_ORIGINS' : false;
const TOKEN = 'e2e-frontend-token'; // -demo takes any bearer token

let gateway, query, truth;
before(async () => {
  // No page cache: the upstream calls counted are what the walk costs.
  gateway = await startGateway({
    name: 'gateway-apollo-client',
    env: { CACHE_TTL: '0s', CORS_ALLOWED_ORIGINS: ORIGIN },
  });
  query = `${gateway.url}/query`;
  truth = await allCustomerIds(gateway.url);
});
after(() => gateway?.stop());

test('relayStylePagination with fetchMore walks the whole list, every customer once', async () => {
  const client = createApolloClient(query, TOKEN);
  const calls = await gateway.upstreamCalls();
  const requests = recordRequests(query);
  let customers;
  try {
    customers = await loadAllCustomers(client);
  } finally {
    requests.stop();
  }
  const upstream = (await gateway.upstreamCalls()) - calls;

  const ids = customers.map((c) => c.id);
  const duplicates = ids.length - new Set(ids).size;
  assert.equal(duplicates, 0, 'no customer twice');
  assert.deepEqual(ids, truth, 'the same customers in the same order as customers(page) gives them');
  assert.equal(requests.count, Math.ceil(truth.length / 50), 'one request per 50 customers');
  for (const c of customers) {
    assert.equal(c.__typename, 'Customer');
    assert.ok(c.name && c.status && 'email' in c.contact, JSON.stringify(c));
  }

  // Upstream pages hold 20 (-demo): 50 customers touch at most 4 pages,
  // and hasNextPage one more, each read once per request (its loader).
  const pages = Math.ceil(truth.length / 20);
  assert.ok(upstream >= pages && upstream <= requests.count * 5, `upstream calls: ${upstream}`);

  // What the same walk costs with customers(page): each page, and the next
  // one for hasNextPage.
  const before = await gateway.upstreamCalls();
  await allCustomerIds(gateway.url);
  const byPage = (await gateway.upstreamCalls()) - before;
  assert.ok(upstream < byPage, `the connection walk (${upstream} calls) costs less than customers(page) (${byPage})`);
  console.log(`@apollo/client: ${requests.count} requests (first: 50), ${ids.length} customers, ` +
    `${duplicates} duplicates; upstream calls ${upstream} (customers(page) walk: ${byPage})`);
});

test('node(id:) refetches one customer into the entry the list shows', async () => {
  const client = createApolloClient(query, TOKEN);
  const list = await loadAllCustomers(client);
  const shown = list[137];

  const { data } = await client.query({ query: CUSTOMER, variables: { id: shown.id }, fetchPolicy: 'network-only' });
  assert.equal(data.node.__typename, 'Customer');
  assert.equal(data.node.id, shown.id);
  assert.equal(data.node.name, shown.name);
  assert.match(data.node.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  // One normalized entry, Customer:<id>: the list's fields and node's together.
  const entry = client.cache.extract()[client.cache.identify({ __typename: 'Customer', id: shown.id })];
  assert.equal(entry.name, shown.name);
  assert.equal(entry.contact.email, shown.contact.email);
  assert.equal(entry.createdAt, data.node.createdAt);
});

test('a refused cursor is a GraphQL error in an HTTP 200 answer, which Apollo Client throws', async () => {
  const direct = await graphql(query, '{ customersConnection(after: "not-a-cursor") { edges { cursor } } }');
  assert.equal(direct.status, 200, 'HTTP 200: check errors, not res.ok');
  assert.equal(direct.body.errors[0].extensions.code, 'BAD_USER_INPUT');

  const client = createApolloClient(query, TOKEN);
  await assert.rejects(client.query({ query: CUSTOMERS, variables: { first: 5, after: 'not-a-cursor' } }), (err) => {
    assert.ok(CombinedGraphQLErrors.is(err), `a CombinedGraphQLErrors, got ${err}`);
    assert.equal(err.errors[0].extensions.code, 'BAD_USER_INPUT');
    return true;
  });
});

test('a browser on an allowed origin may send what Apollo Client sends', { skip: externalGateway }, async () => {
  const client = createApolloClient(query, TOKEN);
  const requests = recordRequests(query);
  try {
    await client.query({ query: CUSTOMERS, variables: { first: 1 } });
  } finally {
    requests.stop();
  }
  const { res, asked } = await preflight(query, ORIGIN, requests.requests[0]);
  assert.ok(asked.includes('apollographql-client-name'), `client awareness is on: ${asked}`);
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN, `preflight for ${asked} refused (HTTP ${res.status})`);
  const allowed = res.headers.get('access-control-allow-headers').toLowerCase().split(/\s*,\s*/);
  for (const h of asked) assert.ok(allowed.includes(h), `${h} allowed: ${allowed}`);
  console.log(`@apollo/client sends, and a preflight allows: ${asked.join(', ')}`);
});
