// GraphiQL at GET /graphql (api/graphql/graphiql.html): strawberry's page script, run
// from this file so the page's Content-Security-Policy allows no inline script. It
// sends queries to the page's own URL; paste a token under Headers as
// {"Authorization": "Bearer …"}.
(() => {
  'use strict';
  const EXAMPLE_QUERY = `# GraphiQL — the Linkage GraphQL API (五级联动协商)
#
# Open "Headers" below and paste a token (linkage token issue):
#   {"Authorization": "Bearer <token>"}
#
# Run: Ctrl-Enter.  Complete: Ctrl-Space.  Schema: the book icon on the left.
#
{
  me { userId roles unit { code name } }
}
`;

  // Shared links carry the query in the URL (?q=…&variables=…), as strawberry's page does.
  const parameters = {};
  for (const entry of window.location.search.slice(1).split('&')) {
    const eq = entry.indexOf('=');
    if (eq >= 0) {
      parameters[decodeURIComponent(entry.slice(0, eq))] = decodeURIComponent(entry.slice(eq + 1));
    }
  }

  function updateURL(data) {
    Object.assign(parameters, data);
    const search = Object.keys(parameters)
      .filter((key) => Boolean(parameters[key]))
      .map((key) => `${encodeURIComponent(key)}=${encodeURIComponent(parameters[key])}`)
      .join('&');
    history.replaceState(null, '', `?${search}`);
  }

  const fetcher = GraphiQL.createFetcher({ url: window.location.href.split('?')[0] });

  function GraphiQLWithExplorer() {
    const [query, setQuery] = React.useState(parameters.q || EXAMPLE_QUERY);
    const [variables, setVariables] = React.useState(parameters.variables);
    const [headers, setHeaders] = React.useState(parameters.headers);
    const explorer = React.useMemo(() => GraphiQLPluginExplorer.explorerPlugin(), []);

    return React.createElement(GraphiQL, {
      fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorer],
      query,
      variables,
      headers,
      onEditQuery: (value) => { setQuery(value); updateURL({ q: value }); },
      onEditVariables: (value) => { setVariables(value); updateURL({ variables: value }); },
      onEditHeaders: setHeaders,
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false, // a pasted token does not outlive the tab on a shared office PC
    });
  }

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQLWithExplorer),
  );
})();
