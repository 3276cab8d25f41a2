// urql against the gateway: the list page by page with customers(page,
// sort), and createCustomer. urql's document cache drops every cached
// answer that holds a Customer once a mutation returns one. What
// urql.test.mjs runs and the README shows.
import { Client, cacheExchange, fetchExchange, gql } from '@urql/core';

export function createUrqlClient(url, token) {
  return new Client({
    url,
    exchanges: [cacheExchange, fetchExchange],
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
  });
}

export const CUSTOMERS_PAGE = gql`
  query CustomersPage($page: Int!, $sort: CustomerSort!) {
    customers(page: $page, sort: $sort) {
      page
      hasNextPage
      nodes { id name status contact { email } createdAt }
    }
  }
`;

export const CREATE_CUSTOMER = gql`
  mutation CreateCustomer($input: CreateCustomerInput!) {
    createCustomer(input: $input) {
      customer { id name contact { email } createdAt }
      userErrors { field message code }
    }
  }
`;

// Every customer in the order of `sort`, page after page.
export async function allCustomersByPage(client, sort) {
  const customers = [];
  for (let page = 1; ; page++) {
    const { data, error } = await client.query(CUSTOMERS_PAGE, { page, sort }).toPromise();
    if (error) throw error; // GraphQL errors come with HTTP 200: urql puts them here
    customers.push(...data.customers.nodes);
    if (!data.customers.hasNextPage) return customers;
  }
}

// { customer, userErrors }: a refused input (an email already taken) is a
// userError in a successful answer, not an error.
export async function createCustomer(client, input) {
  const { data, error } = await client.mutation(CREATE_CUSTOMER, { input }).toPromise();
  if (error) throw error;
  return data.createCustomer;
}
