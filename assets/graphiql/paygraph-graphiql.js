// Starts GraphiQL against this server's /graphql: queries and mutations
// over HTTP, subscriptions over graphql-ws on the same path. The headers of
// GraphiQL's Headers pane go with every HTTP request and, for
// subscriptions, in the socket's connection_init payload (where the server
// reads Authorization). This file is served from /graphiql/ because the
// page's Content-Security-Policy allows no inline script.
(function () {
  'use strict';
  var url = new URL('/graphql', window.location.href);
  var socket = new URL(url.href);
  socket.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({
    url: url.href,
    subscriptionUrl: socket.href,
  });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    }),
  );
})();
