// Relay against the gateway: relay-compiler compiles the fragments and
// queries of frontend/relay/ against the SDL the gateway prints (a
// @connection pagination fragment on customersConnection, a @refetchable
// fragment on Customer, which needs Node and node(id:)); then relay-runtime
// runs the compiled artifacts as usePaginationFragment and useRefetchableFragment
// do: the first page, loadNext until the end (the connection handler
// appends every page to one connection in the store), a refetch by node(id:).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createOperationDescriptor, fetchQuery, getSelector } from 'relay-runtime';
import { startGateway, allCustomerIds, clientSchema, preflight, recordRequests } from './gateway.mjs';
import { createEnvironment } from './frontend/relay/environment.mjs';

const ORIGIN = 'http://localhost:5173';
// A gateway started elsewhere (GATEWAY_URL) does not allow ORIGIN.
const externalGateway = process.env.GATEWAY_URL ? 'GATEWAY_URL: the gateway was not started with CORS_ALLOWED_ORIGINS' : false;
const TOKEN = 'e2e-frontend-token'; // -demo takes any bearer token
const project = fileURLToPath(new URL('./frontend/relay/', import.meta.url));
const generated = join(project, '__generated__');
const compiler = fileURLToPath(new URL('./node_modules/.bin/relay-compiler', import.meta.url));

let gateway, query, truth, compiled;
before(async () => {
  gateway = await startGateway({ name: 'gateway-relay', env: { CORS_ALLOWED_ORIGINS: ORIGIN } });
  query = `${gateway.url}/query`;
  truth = await allCustomerIds(gateway.url);

  await writeFile(join(project, 'schema.graphql'), await clientSchema());
  await rm(generated, { recursive: true, force: true });
  await mkdir(generated);
  compiled = await promisify(execFile)(compiler, ['relay.config.json'], { cwd: project })
    .then(({ stdout, stderr }) => ({ ok: true, output: stdout + stderr }))
    .catch((err) => ({ ok: false, output: `${err.stdout}${err.stderr}` }));
  // The artifacts are CommonJS (eagerEsModules: false), in a folder of
  // this ESM package.
  await writeFile(join(generated, 'package.json'), '{"type": "commonjs"}\n');
});
after(() => gateway?.stop());

const require = createRequire(import.meta.url);
const artifact = (name) => require(join(generated, `${name}.graphql.js`));

test('relay-compiler compiles the fragments and queries against the printed SDL', async () => {
  assert.ok(compiled.ok, `relay-compiler failed:\n${compiled.output}`);
  const files = (await readdir(generated)).filter((f) => f.endsWith('.graphql.js')).sort();
  assert.deepEqual(files, [
    'customersByEmailQuery.graphql.js',
    'customersCardRefetchQuery.graphql.js',
    'customersCard_customer.graphql.js',
    'customersListPaginationQuery.graphql.js',
    'customersList_query.graphql.js',
    'customersPageQuery.graphql.js',
  ]);
  // @refetchable on Customer: the refetch query goes through node(id:).
  assert.match(artifact('customersCardRefetchQuery').params.text, /node\(id: \$id\)/);
  console.log(`relay-compiler: ${files.length} artifacts; ${compiled.output.match(/compiled documents[^\n]*/)?.[0]}`);
});

test('the pagination fragment walks the whole list, every customer once', async () => {
  assert.ok(compiled.ok, 'compiled');
  const environment = createEnvironment(query, TOKEN);
  const page = artifact('customersPageQuery');
  const operation = createOperationDescriptor(page, {});
  const retained = environment.retain(operation); // the mounted screen
  const requests = recordRequests(query);
  let connection;
  try {
    await fetchQuery(environment, page, {}).toPromise();
    // Read as usePaginationFragment reads: the fragment over the query's root.
    const root = environment.lookup(operation.fragment).data;
    const list = artifact('customersList_query');
    const read = () => environment.lookup(getSelector(list, root)).data.customersConnection;
    connection = read();
    while (connection.pageInfo.hasNextPage) {
      // loadNext(50): the refetch query with the end cursor.
      await fetchQuery(environment, artifact('customersListPaginationQuery'),
        { count: 50, cursor: connection.pageInfo.endCursor, sort: 'CREATED_AT' }).toPromise();
      connection = read();
    }
  } finally {
    requests.stop();
  }

  const card = artifact('customersCard_customer');
  const cards = connection.edges.map((e) => environment.lookup(getSelector(card, e.node)).data);
  const ids = cards.map((c) => c.id);
  const duplicates = ids.length - new Set(ids).size;
  assert.equal(duplicates, 0, 'no customer twice');
  assert.deepEqual(ids, truth, 'the same customers in the same order as customers(page) gives them');
  assert.equal(requests.count, Math.ceil(truth.length / 50), 'one request per 50 customers');
  for (const c of cards) assert.ok(c.name && c.status && c.createdAt && 'email' in c.contact, JSON.stringify(c));
  console.log(`relay-runtime: ${requests.count} requests (count: 50), ${ids.length} customers, ${duplicates} duplicates`);

  // The refetchable card: node(id:) gives the record the list shows.
  const shown = cards[211];
  const refetched = await fetchQuery(environment, artifact('customersCardRefetchQuery'), { id: shown.id }).toPromise();
  assert.equal(refetched.node.__id, shown.id, 'the same record in the store');
  assert.deepEqual(environment.lookup(getSelector(card, refetched.node)).data, shown);

  // And the lookup a support person wants: which customer is this email?
  const byEmail = await fetchQuery(environment, artifact('customersByEmailQuery'),
    { email: shown.contact.email.toUpperCase() }).toPromise();
  assert.equal(byEmail.customerByEmail.id, shown.id);
  retained.dispose();
});

test('a browser on an allowed origin may send what the Relay network layer sends', { skip: externalGateway }, async () => {
  assert.ok(compiled.ok, 'compiled');
  const requests = recordRequests(query);
  try {
    await fetchQuery(createEnvironment(query, TOKEN), artifact('customersPageQuery'), {}).toPromise();
  } finally {
    requests.stop();
  }
  const { res, asked } = await preflight(query, ORIGIN, requests.requests[0]);
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN, `preflight for ${asked} refused (HTTP ${res.status})`);
  const allowed = res.headers.get('access-control-allow-headers').toLowerCase().split(/\s*,\s*/);
  for (const h of asked) assert.ok(allowed.includes(h), `${h} allowed: ${allowed}`);
});
