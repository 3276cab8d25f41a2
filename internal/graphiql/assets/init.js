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

  var meta = document.querySelector('meta[name="graphql-endpoint"]');
  // Resolved against the page, so a relative endpoint such as "/query" works
  // wherever the page is mounted.
  var endpoint = new URL(meta.getAttribute('content'), window.location.href).toString();

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: endpoint }),
      defaultQuery: DEFAULT_QUERY,
      isHeadersEditorEnabled: true,
      // Tokens typed into the headers editor stay out of localStorage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers'
    })
  );
})();
