// A typed client: graphql() returns a TypedDocumentNode, so urql (or Apollo
// Client) knows the variables and the answer's shape of each operation.
import { Client, cacheExchange, fetchExchange } from '@urql/core';
import { graphql } from './gql';

export const CustomersConnection = graphql(`
  query TypedCustomers($first: Int, $after: String, $sort: CustomerSort) {
    customersConnection(first: $first, after: $after, sort: $sort) {
      edges { node { id name status contact { email } createdAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const CustomerByEmail = graphql(`
  query TypedCustomerByEmail($email: String!) {
    customerByEmail(email: $email) { id name status }
  }
`);

export function createClient(url: string, token: string): Client {
  return new Client({
    url,
    exchanges: [cacheExchange, fetchExchange],
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
  });
}

// One page of the connection; GraphQL errors come with HTTP 200, in error.
async function customersAfter(client: Client, after: string | null) {
  const { data, error } = await client.query(CustomersConnection, { first: 100, after, sort: 'NAME' }).toPromise();
  if (error || !data) throw error ?? new Error('no data');
  return data.customersConnection;
}

export async function activeCustomerEmails(client: Client): Promise<string[]> {
  const emails: string[] = [];
  let after: string | null = null;
  do {
    const { edges, pageInfo } = await customersAfter(client, after);
    for (const { node } of edges) {
      if (node.status === 'ACTIVE' && node.contact.email) emails.push(node.contact.email);
    }
    after = pageInfo.hasNextPage ? (pageInfo.endCursor ?? null) : null;
  } while (after);
  return emails;
}
