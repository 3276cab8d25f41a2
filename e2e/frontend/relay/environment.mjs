// The Relay environment of a frontend app: its network layer posts each
// operation to the gateway with an access token (server-key mode).
import { Environment, Network, RecordSource, Store } from 'relay-runtime';

export function createEnvironment(url, token) {
  return new Environment({
    network: Network.create(async (operation, variables) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: operation.text, variables }),
      });
      // GraphQL errors come with HTTP 200: Relay reads them from the body.
      if (!res.headers.get('content-type')?.includes('json')) throw new Error(`gateway: HTTP ${res.status}`);
      return res.json();
    }),
    store: new Store(new RecordSource()),
  });
}
