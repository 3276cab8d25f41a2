// The gateway under test, shared by every test file.
//
// startGateway() builds the gateway from the project root (the folder above
// this one) and runs it with -demo on a free 127.0.0.1 port, so no key and no
// network are needed. Each test file starts its own gateway, so the upstream
// calls one file counts are never mixed with another's.
//
//   GATEWAY_URL    use this running gateway instead of building and starting
//                  one; it must need no token, like one started with -demo
//   GATEWAY_BIN    use this binary instead of building one (run.sh builds it
//                  once for all test files)
//   ARTIFACTS_DIR  where logs, the screenshot and the supergraph go; default
//                  artifacts/ beside this file
//   E2E_PID_DIR    write each started gateway's pid here (an empty file named
//                  by it), so that run.sh can end any that a crash left behind
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
export const artifactsDir = process.env.ARTIFACTS_DIR
  ? resolve(process.env.ARTIFACTS_DIR)
  : fileURLToPath(new URL('./artifacts/', import.meta.url));

/**
 * Starts a gateway (or attaches to GATEWAY_URL) and returns
 * { url, upstreamCalls(), log(), stop() }; log() is the gateway's log so
 * far (null for GATEWAY_URL). `env` is added to this process's
 * environment; `name` names the log file in artifacts/.
 */
export async function startGateway({ env = {}, name = 'gateway' } = {}) {
  if (process.env.GATEWAY_URL) {
    const url = process.env.GATEWAY_URL.replace(/\/+$/, '');
    await waitHealthy(url, null, 10_000);
    return { url, upstreamCalls: () => upstreamCalls(url), log: async () => null, stop: async () => {} };
  }

  const bin = process.env.GATEWAY_BIN || (await build());
  await mkdir(artifactsDir, { recursive: true });
  const logFile = join(artifactsDir, `${name}.log`);
  const log = createWriteStream(logFile);
  // Port 0: the gateway takes a free port itself and says which in its
  // "gateway listening" log line; no port is picked here and freed first,
  // for another test's gateway to take meanwhile.
  const child = spawn(bin, ['-demo', '-addr', '127.0.0.1:0'], {
    // No load balancer watches its /readyz: SIGTERM stops it at once.
    env: { SHUTDOWN_DELAY: '0', ...process.env, ...env },
    // Its own process group, so stop() can end everything it started.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const listening = listeningAddr(child);
  const exited = once(child, 'exit');
  const pidFile = process.env.E2E_PID_DIR && join(process.env.E2E_PID_DIR, String(child.pid));
  if (pidFile) writeFileSync(pidFile, '');
  // Should a test crash before stop(), do not leave the gateway behind.
  const killOnExit = () => kill(child, 'SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      kill(child, 'SIGTERM');
      const timer = setTimeout(() => kill(child, 'SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (pidFile) rmSync(pidFile, { force: true });
    log.end();
  };

  let url;
  try {
    url = `http://${await listening}`;
    await waitHealthy(url, child, 15_000);
  } catch (err) {
    await stop();
    throw new Error(`${err.message}; see ${join(artifactsDir, `${name}.log`)}`);
  }
  // The gateway writes its log lines within 100 ms.
  const logText = async () => {
    await new Promise((r) => setTimeout(r, 200));
    return readFile(logFile, 'utf8');
  };
  return { url, upstreamCalls: () => upstreamCalls(url), log: logText, stop };
}

/**
 * The schema for clients and their code generators, as the gateway binary
 * prints it (-print-schema): never a copy kept beside the tests. With
 * GATEWAY_URL and no GATEWAY_BIN, that of the gateway built from this
 * checkout.
 */
export async function clientSchema() {
  const bin = process.env.GATEWAY_BIN || (await build());
  const { stdout } = await promisify(execFile)(bin, ['-print-schema']);
  return stdout;
}

// go build once per test process; Go's build cache makes repeats cheap.
let built;
function build() {
  built ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gateway-e2e-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const bin = join(dir, 'gateway');
    await promisify(execFile)('go', ['build', '-o', bin, '.'], { cwd: projectRoot });
    return bin;
  })();
  return built;
}

function kill(child, signal) {
  try {
    process.kill(-child.pid, signal); // the whole group
  } catch {
    // already gone
  }
}

// listeningAddr resolves to the address in the gateway's "gateway
// listening" log line, or rejects when it exits or says nothing in 15 s.
function listeningAddr(child) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error('the gateway did not say where it listens within 15 s')), 15_000);
    const done = (fn, v) => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
      fn(v);
    };
    const onData = (chunk) => {
      seen = (seen + chunk).slice(-65536);
      const m = seen.match(/"msg":"gateway listening","addr":"([^"]+)"/);
      if (m) done(resolve, m[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code, signal) => done(reject, new Error(`gateway exited (${code ?? signal}) before it listened`)));
  });
}

async function waitHealthy(url, child, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child && (child.exitCode ?? child.signalCode) !== null) {
      throw new Error(`gateway exited (${child.exitCode ?? child.signalCode}) before /healthz answered`);
    }
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url}/healthz did not answer 200 within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Sum of gateway_upstream_requests_total over all labels: every upstream
 * HTTP attempt counts once, whatever its outcome.
 */
export async function upstreamCalls(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^gateway_upstream_requests_total(?:\{[^}]*\})?\s+(\S+)$/gm)) sum += Number(m[1]);
  return sum;
}

/** POSTs one GraphQL operation to url and returns the parsed body. */
export async function graphql(url, query, variables, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  return { status: res.status, body };
}

/**
 * The ids of every customer in the order of `sort`, read the plain way
 * (customers(page) until hasNextPage is false): what every client must see.
 */
export async function allCustomerIds(url, sort = 'CREATED_AT') {
  const ids = [];
  for (let page = 1; ; page++) {
    const { body } = await graphql(`${url}/query`,
      'query($page: Int!, $sort: CustomerSort!) { customers(page: $page, sort: $sort) { nodes { id } hasNextPage } }',
      { page, sort });
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    ids.push(...body.data.customers.nodes.map((n) => n.id));
    if (!body.data.customers.hasNextPage) return ids;
  }
}

// Request headers a page may send cross-origin without a preflight asking
// for them (the Fetch standard's CORS-safelisted request headers; a
// content-type of application/json is not one of them).
const safelisted = new Set(['accept', 'accept-language', 'content-language']);

/**
 * Sends the CORS preflight a browser on `origin` would send before a
 * request of a client's (as recordRequests saw it), and returns the
 * response and the header names it had to ask for.
 */
export async function preflight(url, origin, { method, headers }) {
  const asked = Object.keys(headers).map((h) => h.toLowerCase()).filter((h) => !safelisted.has(h)).sort();
  const res = await fetch(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      'access-control-request-headers': asked.join(','),
    },
  });
  return { res, asked };
}

/**
 * Records what this process's fetch sends to `url` (any query string) until
 * stop(): how many requests, and the method and headers of each. The
 * clients under test call the global fetch, as they do in a browser.
 */
export function recordRequests(url) {
  const original = globalThis.fetch;
  const rec = { count: 0, requests: [], stop: () => { globalThis.fetch = original; } };
  globalThis.fetch = (input, init = {}) => {
    const given = input instanceof Request ? input : null; // its body is left alone
    if ((given?.url ?? String(input)).split('?')[0] === url) {
      rec.count++;
      rec.requests.push({
        method: (init.method ?? given?.method ?? 'GET').toUpperCase(),
        headers: Object.fromEntries(new Headers(init.headers ?? given?.headers)),
      });
    }
    return original(input, init);
  };
  return rec;
}
