// What relay-compiler compiles (relay.config.json beside this file): a list
// that pages with usePaginationFragment, and a card that refetches one
// customer by node(id:). In an app these tags sit in the components that use
// them, and babel-plugin-relay replaces each with its generated artifact.
import { graphql } from 'relay-runtime';

export const customerCard = graphql`
  fragment customersCard_customer on Customer
  @refetchable(queryName: "customersCardRefetchQuery") {
    id
    name
    status
    contact { email }
    createdAt
  }
`;

export const customerList = graphql`
  fragment customersList_query on Query
  @argumentDefinitions(
    count: { type: "Int", defaultValue: 50 }
    cursor: { type: "String" }
    sort: { type: "CustomerSort", defaultValue: CREATED_AT }
  )
  @refetchable(queryName: "customersListPaginationQuery") {
    customersConnection(first: $count, after: $cursor, sort: $sort)
    @connection(key: "customersList_customersConnection") {
      edges {
        node { id ...customersCard_customer }
      }
    }
  }
`;

export const customersPage = graphql`
  query customersPageQuery {
    ...customersList_query
  }
`;

export const customerByEmail = graphql`
  query customersByEmailQuery($email: String!) {
    customerByEmail(email: $email) { id ...customersCard_customer }
  }
`;
