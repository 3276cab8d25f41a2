// Our gateway as one subgraph of a real federated graph: its _service SDL
// composes with a second subgraph (tickets that point at customers by id),
// @apollo/gateway plans and runs queries across both, and all customer ids of
// one query cost a single scan of the upstream's pages. Login tokens and
// createCustomer (with its idempotencyKey) work through it as well.
// Apollo's gateway otherwise sends usage metrics to Apollo and probes cloud
// metadata endpoints at construction; a test must not.
process.env.APOLLO_TELEMETRY_DISABLED ??= 'true';

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { parse } from 'graphql';
import { startGateway, graphql, artifactsDir } from './gateway.mjs';

// The recipe for platform teams: pass the client's Authorization header on
// to every subgraph, ours included (pass-through mode needs it upstream).
class AuthForwardingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context.authorization) request.http.headers.set('authorization', context.authorization);
  }
}

// The second subgraph. Customer is only referenced by its key; our gateway
// resolves every other field. customer is nullable so that an id our
// gateway does not know gives null, not an error that nulls the ticket.
const ticketTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Query {
    tickets(knownOnly: Boolean! = false): [Ticket!]!
  }

  type Ticket {
    id: ID!
    subject: String!
    customer: Customer
  }

  type Customer @key(fields: "id", resolvable: false) {
    id: ID!
  }
`);

const UNKNOWN_ID = 'ffffffffffffffffffffffff'; // well-formed, matches no customer
const TOKEN = 'Bearer e2e-client-token'; // -demo accepts any token

let customers; // our gateway
let ticketsServer, ticketsUrl, tickets, ticketAuth;
let apollo, apolloUrl, composed;
let lastPage; // the last page of customers (sort createdAt)

before(async () => {
  // Counting upstream calls needs every page read afresh.
  customers = await startGateway({
    name: 'gateway-federation',
    env: { CACHE_TTL: '0s', CUSTOMER_SCAN_MAX_PAGES: '50' },
  });

  // Real ids, spread over pages 1, 2, 3, 5 and 7; one customer twice.
  const onPage = async (page) => {
    const { body } = await graphql(`${customers.url}/query`,
      'query($p: Int!) { customers(page: $p) { nodes { id } } }', { p: page });
    return body.data.customers.nodes.map((n) => n.id);
  };
  const [p1, p2, p3, p5, p7] = await Promise.all([1, 2, 3, 5, 7].map(onPage));
  tickets = [
    { id: 't1', page: 1, customerId: p1[0] },
    { id: 't2', page: 1, customerId: p1.at(-1) },
    { id: 't3', page: 2, customerId: p2[4] },
    { id: 't4', page: 3, customerId: p3[10] },
    { id: 't5', page: 5, customerId: p5[7] },
    { id: 't6', page: 7, customerId: p7[19] },
    { id: 't7', page: 1, customerId: p1[0] },
    { id: 't8', page: null, customerId: UNKNOWN_ID },
  ].map((t) => ({ ...t, subject: `Ticket ${t.id}` }));

  // Walk to the last page, to know what a full scan costs.
  for (lastPage = 1; ; lastPage++) {
    const { body } = await graphql(`${customers.url}/query`,
      'query($p: Int!) { customers(page: $p) { hasNextPage } }', { p: lastPage });
    if (!body.data.customers.hasNextPage) break;
  }

  ticketsServer = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: ticketTypeDefs,
      resolvers: {
        Query: { tickets: (_, { knownOnly }) => tickets.filter((t) => !knownOnly || t.page) },
        Ticket: { customer: (t) => ({ __typename: 'Customer', id: t.customerId }) },
      },
    }),
    // No one here reads Apollo's traces.
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  ({ url: ticketsUrl } = await startStandaloneServer(ticketsServer, {
    listen: { host: '127.0.0.1', port: 0 },
    context: async ({ req }) => {
      ticketAuth = req.headers.authorization;
      return {};
    },
  }));

  // Compose from what our gateway serves, not from the file in the repo.
  const { body } = await graphql(`${customers.url}/query`, '{ _service { sdl } }');
  composed = composeServices([
    { name: 'customers', url: `${customers.url}/query`, typeDefs: parse(body.data._service.sdl) },
    { name: 'tickets', url: ticketsUrl, typeDefs: ticketTypeDefs },
  ]);

  if (composed.supergraphSdl) {
    // @apollo/gateway refuses a supergraph that links a SECURITY feature it
    // does not enforce, such as @requiresScopes (Apollo Router enforces
    // it). Our gateway enforces its scopes itself, so the open-source
    // gateway gets the supergraph with that link's purpose dropped.
    const forGateway = composed.supergraphSdl.replace(
      /(@link\(url: "https:\/\/specs\.apollo\.dev\/requiresScopes\/v0\.1"), for: SECURITY\)/, '$1)');
    apollo = new ApolloServer({
      gateway: new ApolloGateway({
        supergraphSdl: forGateway,
        buildService: ({ url }) => new AuthForwardingDataSource({ url }),
      }),
    });
    ({ url: apolloUrl } = await startStandaloneServer(apollo, {
      listen: { host: '127.0.0.1', port: 0 },
      context: async ({ req }) => ({ authorization: req.headers.authorization }),
    }));
  }
});

after(async () => {
  await apollo?.stop();
  await ticketsServer?.stop();
  await customers?.stop();
});

test('our _service SDL composes with a second subgraph', async () => {
  const errors = (composed.errors ?? []).map((e) => e.message);
  assert.deepEqual(errors, [], 'composition errors');

  // For quoting: every hint, the supergraph's head and the type that both
  // subgraphs share.
  const hints = composed.hints ?? [];
  const quoted = composed.supergraphSdl.match(/^(schema|type Customer)\b[\s\S]*?^\}/gm);
  console.log([
    `composition: ok, ${hints.length} hint(s)`,
    ...hints.map((h) => `hint ${h.definition.code}: ${h.message}`),
    'supergraph SDL (excerpt):',
    ...quoted.join('\n...\n').split('\n').map((l) => `  ${l}`),
  ].join('\n'));
  await mkdir(artifactsDir, { recursive: true });
  await writeFile(join(artifactsDir, 'supergraph.graphql'), composed.supergraphSdl);
});

const ticketsQuery = `query($knownOnly: Boolean!) {
  tickets(knownOnly: $knownOnly) { id subject customer { id name status contact { email } } }
}`;

// What asking for these tickets costs: one scan up to the farthest page, and
// a scan of everything (plus the empty page after it) if an id is unknown.
const scanCost = (ts) => (ts.some((t) => !t.page) ? lastPage + 1 : Math.max(...ts.map((t) => t.page)));
// The gateway scans page 1, then windows of 4 pages at once (UPSTREAM_MAX_CONCURRENCY
// 64): reaching page n costs up to the rest of its window. Ids it has seen
// before cost only their page (its lookup index), so a scan may cost less.
const window = 4;
const windowedCost = (n) => (n <= 1 ? 1 : 1 + window * Math.ceil((n - 1) / window));
const naiveCost = (ts) => ts.reduce((n, t) => n + (t.page ?? lastPage + 1), 0);

async function queryTickets(knownOnly) {
  const before = await customers.upstreamCalls();
  const res = await graphql(apolloUrl, ticketsQuery, { knownOnly }, { authorization: TOKEN });
  const calls = (await customers.upstreamCalls()) - before;
  return { ...res, calls };
}

function assertCustomers(got, want) {
  assert.equal(got.length, want.length);
  for (const [i, t] of want.entries()) {
    const c = got[i].customer;
    assert.equal(got[i].id, t.id);
    assert.equal(got[i].subject, t.subject);
    if (!t.page) continue;
    assert.equal(c.id, t.customerId, `${t.id}: customer id`);
    assert.ok(c.name.length > 0, `${t.id}: customer name`);
    assert.ok(['ACTIVE', 'INACTIVE', 'UNKNOWN'].includes(c.status), `${t.id}: status ${c.status}`);
    assert.ok('email' in c.contact, `${t.id}: contact`);
  }
}

test('customers of tickets resolve from our subgraph in one scan', async () => {
  const want = tickets.filter((t) => t.page);
  const { status, body, calls } = await queryTickets(true);
  assert.equal(status, 200);
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  assertCustomers(body.data.tickets, want);
  // The same customer on two tickets is the same entity.
  assert.deepEqual(body.data.tickets[6].customer, body.data.tickets[0].customer);

  console.log(`known ids on pages ${want.map((t) => t.page).join(',')}: ${calls} upstream calls ` +
    `(one scan per ticket would be ${naiveCost(want)})`);
  assert.ok(calls <= windowedCost(scanCost(want)), `upstream calls: at most pages 1 up to the window of the farthest id, got ${calls}`);
  assert.ok(calls < naiveCost(want));
  assert.equal(ticketAuth, TOKEN, 'the tickets subgraph got the client Authorization header');
});

test('an unknown customer id gives a null customer after a full scan', async () => {
  const { status, body, calls } = await queryTickets(false);
  assert.equal(status, 200);
  assertCustomers(body.data.tickets, tickets);
  const unknown = body.data.tickets.find((t) => t.id === 't8');
  assert.equal(unknown.customer, null);
  // Our _entities answers null for it, with no error, and @apollo/gateway
  // puts that null in place of the reference.
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));

  console.log(`known ids + 1 unknown id: ${calls} upstream calls ` +
    `(pages 1..${lastPage} and the empty ${lastPage + 1}; one scan per ticket would be ${naiveCost(tickets)})`);
  assert.ok(calls >= scanCost(tickets), `upstream calls: an unknown id needs all ${lastPage} pages + the empty one, got ${calls}`);
  assert.ok(calls <= windowedCost(scanCost(tickets)), `upstream calls: no more than the windows that hold them, got ${calls}`);
  assert.ok(calls < naiveCost(tickets));
});

test('login tokens resolve through the Apollo Gateway, as our gateway gives them', async () => {
  assert.match(composed.supergraphSdl, /loginToken: LoginToken[^\n]*@requiresScopes\(scopes: \[\["customers:login"\]\]\)/,
    'the supergraph keeps the scope of loginToken');
  const query = '{ tickets(knownOnly: true) { id customer { id loginToken { key active } } } }';
  const { status, body } = await graphql(apolloUrl, query, {}, { authorization: TOKEN });
  assert.equal(status, 200);
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  for (const t of body.data.tickets) {
    const { id, loginToken } = t.customer;
    assert.match(loginToken.key, /^[0-9a-f]{64}$/, `${t.id}: a login token`);
    // The same token as our gateway gives for that customer directly (-demo grants every scope).
    const direct = await graphql(`${customers.url}/query`, `{ customer(id: "${id}") { loginToken { key } } }`, {}, { authorization: TOKEN });
    assert.equal(direct.body.data.customer.loginToken.key, loginToken.key, `${t.id}: the same token`);
  }
});

// Last in this file: the customer it creates would change the cost of the
// full scan above.
test('createCustomer runs through the Apollo Gateway: created once, replayed by its key, then listed last', async () => {
  assert.match(composed.supergraphSdl, /^type Mutation\s+@join__type\(graph: CUSTOMERS\)/m,
    'the supergraph has our Mutation');
  assert.match(composed.supergraphSdl,
    /createCustomer\(input: CreateCustomerInput!\): CreateCustomerPayload![^\n]*@requiresScopes\(scopes: \[\["customers:write"\]\]\)/,
    'the supergraph keeps the scope of createCustomer');

  const auth = { authorization: TOKEN };
  const lastPageOf = async (from) => {
    for (let p = from; ; p++) {
      const { status, body } = await graphql(apolloUrl,
        'query($p: Int!) { customers(page: $p) { page hasNextPage nodes { id name contact { email } } } }', { p }, auth);
      assert.equal(status, 200);
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      if (!body.data.customers.hasNextPage) return body.data.customers;
    }
  };
  // Read before the create too: on a gateway that caches (ours here has
  // CACHE_TTL=0s for the call counts; a GATEWAY_URL one may not), a page or
  // answer kept across the create would miss the new customer.
  const listedBefore = await lastPageOf(lastPage);

  // New on every run, so that a GATEWAY_URL gateway that ran this before
  // still creates one.
  const run = randomUUID();
  const input = { email: `e2e-${run}@example.com`, name: 'E2E Federation', password: 'e2e-password', idempotencyKey: run };
  const create = async () => {
    const calls = await customers.upstreamCalls();
    const { status, body } = await graphql(apolloUrl, `mutation($input: CreateCustomerInput!) {
      createCustomer(input: $input) { customer { id name contact { email } status createdAt } userErrors { field code message } }
    }`, { input }, auth);
    assert.equal(status, 200);
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.deepEqual(body.data.createCustomer.userErrors, []);
    return { customer: body.data.createCustomer.customer, calls: (await customers.upstreamCalls()) - calls };
  };

  const first = await create();
  assert.match(first.customer.id, /^[0-9a-f]{24}$/);
  assert.equal(first.customer.name, input.name);
  assert.equal(first.customer.contact.email, input.email);
  assert.equal(first.calls, 1, 'one upstream call: the create');

  const again = await create();
  assert.deepEqual(again.customer, first.customer, 'the same key gives back the same customer');
  assert.equal(again.calls, 0, 'a replay makes no upstream call');

  const listedAfter = await lastPageOf(listedBefore.page);
  const { id, name, contact } = first.customer;
  assert.deepEqual(listedAfter.nodes.at(-1), { id, name, contact }, 'the new customer ends the list');
  assert.ok(!listedBefore.nodes.some((c) => c.id === id), 'not on the list before');
  assert.equal(listedAfter.nodes.filter((c) => c.id === id).length, 1, 'listed once');
  console.log(`createCustomer through @apollo/gateway: ${id}, upstream calls ${first.calls} then ${again.calls} (replay); ` +
    `listed last on page ${listedAfter.page}`);
});
