// Apollo Client 4 against the gateway: the list as a Relay connection,
// paged with fetchMore into one list in the cache (relayStylePagination),
// and one customer refetched by node(id:). What apollo-client.test.mjs runs
// and the README shows.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';
import { filter, firstValueFrom } from 'rxjs';

export function createApolloClient(uri, token) {
  return new ApolloClient({
    link: new HttpLink({ uri, headers: { authorization: `Bearer ${token}` } }),
    cache: new InMemoryCache({
      possibleTypes: { Node: ['Customer'] },
      typePolicies: {
        // One list per sort; pages fetched with `after` are appended to it.
        Query: { fields: { customersConnection: relayStylePagination(['sort']) } },
      },
    }),
    clientAwareness: { name: 'agency-dashboard', version: '1.0.0' },
  });
}

export const CUSTOMERS = gql`
  query Customers($first: Int, $after: String, $sort: CustomerSort) {
    customersConnection(first: $first, after: $after, sort: $sort) {
      edges { cursor node { id name status contact { email } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

// Every customer, 50 at a time, as a list with "load more" does it.
export async function loadAllCustomers(client, sort = 'CREATED_AT') {
  const variables = { first: 50, sort };
  const list = client.watchQuery({ query: CUSTOMERS, variables });
  const view = list.subscribe(() => {}); // the mounted list (useQuery does this in React)
  try {
    const first = await firstValueFrom(list.pipe(filter((r) => !r.loading)));
    if (first.error) throw first.error; // GraphQL errors come with HTTP 200
    let { pageInfo } = first.data.customersConnection;
    while (pageInfo.hasNextPage) {
      const more = await list.fetchMore({ variables: { after: pageInfo.endCursor } });
      ({ pageInfo } = more.data.customersConnection);
    }
    // The cache holds one list: every page that fetchMore appended.
    return client.readQuery({ query: CUSTOMERS, variables }).customersConnection.edges.map((e) => e.node);
  } finally {
    view.unsubscribe();
  }
}

// One customer by its id, as the list has it: node(id:) answers a Node,
// and possibleTypes lets the cache read ... on Customer from it.
export const CUSTOMER = gql`
  query Customer($id: ID!) {
    node(id: $id) { id ... on Customer { name status createdAt lastLogin } }
  }
`;
