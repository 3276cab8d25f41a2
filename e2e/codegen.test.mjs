// Typed clients: GraphQL Code Generator's client preset generates typed
// documents (frontend/typed/codegen.ts) from the SDL the gateway prints,
// and tsc --noEmit type-checks a small typed client that uses them
// (frontend/typed/customers.ts), with mistakes the types must catch
// (checks.ts). A schema change that breaks the client's documents fails.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generate } from '@graphql-codegen/cli';
import { clientSchema } from './gateway.mjs';

const project = fileURLToPath(new URL('./frontend/typed/', import.meta.url));
const bin = (name) => fileURLToPath(new URL(`./node_modules/.bin/${name}`, import.meta.url));

// Runs a command in the project folder: { ok, output }.
const run = (cmd, args) => promisify(execFile)(cmd, args, { cwd: project })
  .then(({ stdout, stderr }) => ({ ok: true, output: stdout + stderr }))
  .catch((err) => ({ ok: false, output: `${err.stdout}${err.stderr}` }));

let sdl, generated;
before(async () => {
  sdl = await clientSchema();
  await writeFile(join(project, 'schema.graphql'), sdl);
  await rm(join(project, 'gql'), { recursive: true, force: true });
  generated = await run(bin('graphql-codegen'), ['--config', 'codegen.ts']);
});

test('graphql-codegen generates typed documents from the printed SDL', async () => {
  assert.ok(generated.ok, `graphql-codegen failed:\n${generated.output}`);
  const types = await readFile(join(project, 'gql', 'graphql.ts'), 'utf8');
  assert.match(types, /export type TypedCustomersQuery = .*customersConnection: \{ __typename\?: 'CustomerConnection', edges: Array</);
  assert.match(types, /export type CustomerStatus =\s*\| 'ACTIVE'\s*\| 'INACTIVE'\s*(\/\*\*.*\*\/\s*)?\| 'UNKNOWN';/);
});

test('tsc --noEmit type-checks the typed client, and catches its mistakes', async () => {
  assert.ok(generated.ok, 'generated');
  const tsc = await run(bin('tsc'), ['--noEmit', '-p', '.']);
  assert.ok(tsc.ok, `tsc failed:\n${tsc.output}`);
  const expected = (await readFile(join(project, 'checks.ts'), 'utf8')).match(/^\s*\/\/ @ts-expect-error/gm).length;
  console.log(`tsc --noEmit: ok; ${expected} mistakes caught by the generated types`);
});

test('a schema change that breaks the client\'s documents fails the generation', async () => {
  // The same client against a gateway whose PageInfo lost endCursor.
  const broken = sdl.replace(/^(\s*)endCursor: String\n/m, '');
  assert.notEqual(broken, sdl, 'PageInfo.endCursor is in the SDL');
  const config = {
    schema: broken,
    documents: [join(project, 'customers.ts')],
    generates: { [join(project, 'gql-broken/')]: { preset: 'client' } },
    silent: true,
  };
  await assert.rejects(generate(config, false), (err) => {
    assert.match(String(err.message ?? err), /endCursor/);
    return true;
  });
});
