// Starts GraphiQL. This is a file of its own, not an inline <script>, because
// the page's Content-Security-Policy allows scripts from 'self' only. The
// GraphQL endpoint comes from the page's <meta name="graphql-endpoint"> tag,
// which the server fills in with html/template.
(function () {
  'use strict';

  var DEFAULT_QUERY = [
    "# The agency's customers, one page at a time.",
    '# Run it with the run button or Ctrl+Enter.',
    '#',
    '# The demo gateway (go run . -demo) needs no token.',
    '# A real one usually does: open Headers below, enter',
    '#   {"Authorization": "Bearer <your token>"}',
    '# Headers are not saved in the browser.',
    'query Customers {',
    '  customers(page: 1) {',
    '    page',
    '    hasNextPage',
    '    nodes {',
    '      id',
    '      name',
    '      contact { email }',
    '      status',
    '      lastLogin',
    '    }',
    '  }',
    '}',
    ''
  ].join('\n');

  var CREATE_MUTATION = [
    'mutation CreateCustomer($input: CreateCustomerInput!) {',
    '  createCustomer(input: $input) {',
    '    customer {',
    '      id',
    '      name',
    '      contact { email }',
    '      status',
    '      createdAt',
    '    }',
    '    userErrors {',
    '      field',
    '      code',
    '      message',
    '    }',
    '  }',
    '}',
    ''
  ].join('\n');

  // The demo's sample upstream takes these as they are. A real gateway gets
  // empty values instead: run untouched, the example creates nobody (the
  // gateway answers INVALID for each field) and no real customer gets a
  // password that is printed in this page.
  var demo = document.querySelector('meta[name="gateway-demo"]') !== null;
  var createTab = demo ? {
    query: [
      '# Creates a customer (scope customers:write,',
      '# which the demo grants). The input is in',
      '# Variables below.',
      '#',
      '# Run it twice: the same idempotencyKey gives',
      '# back the first outcome, the same customer, and',
      '# creates no other. A new key with the same',
      '# email: TAKEN. This key with another input:',
      '# IDEMPOTENCY_KEY_REUSED. Refused input comes',
      '# back in userErrors.',
      '#',
      '# The new customer ends the list: see the last',
      '# page of customers in the first tab.',
      CREATE_MUTATION
    ].join('\n'),
    variables: JSON.stringify({ input: {
      email: 'ada.lovelace@example.com',
      name: 'Ada Lovelace',
      password: 'demo-password',
      idempotencyKey: 'graphiql-demo-1'
    } }, null, 2)
  } : {
    query: [
      '# Creates a customer. The token needs the scope',
      '# customers:write; each tab has its own Headers.',
      '#',
      '# Fill in the input in Variables below. Run as',
      '# it is, each empty field comes back in',
      '# userErrors (code INVALID); nothing is created.',
      '#',
      '# idempotencyKey is optional: give each customer',
      '# a new one (a UUID). Sent again after a lost',
      '# answer, the request then gives back the first',
      '# outcome instead of creating a second customer.',
      '#',
      '# GraphiQL keeps what is typed here in this',
      '# browser\'s storage, the password too.',
      CREATE_MUTATION
    ].join('\n'),
    variables: JSON.stringify({ input: {
      email: '',
      name: '',
      password: '',
      idempotencyKey: ''
    } }, null, 2)
  };

  var meta = document.querySelector('meta[name="graphql-endpoint"]');
  // Resolved against the page, so a relative endpoint such as "/query" works
  // wherever the page is mounted.
  var endpoint = new URL(meta.getAttribute('content'), window.location.href).toString();

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: endpoint }),
      // Opened on the first tab. Tabs a browser saved before win over
      // these; defaultQuery is also what a new tab starts with.
      defaultTabs: [{ query: DEFAULT_QUERY }, createTab],
      defaultQuery: DEFAULT_QUERY,
      isHeadersEditorEnabled: true,
      // Tokens typed into the headers editor stay out of localStorage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers'
    })
  );
})();
