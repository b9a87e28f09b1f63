// Subscribes with the reference graphql-ws client and reports, one line
// each, what happened: `connected`, `next <json>`, `complete`,
// `closed <code> <reason>`, `error <...>`. The Rust tests read these lines.
//
// usage: node subscribe.mjs <ws-url> <token> <query> [variables-json] [events]
// After <events> (default 1) results it unsubscribes (the client sends
// `complete`) and closes the socket.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, query, variables = '{}', events = '1'] = process.argv.slice(2);
const wanted = Number(events);
const say = (line) => process.stdout.write(line + '\n');

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: {
    connected: () => say('connected'),
    closed: (event) => say(`closed ${event.code} ${event.reason}`),
  },
});

let received = 0;
const unsubscribe = client.subscribe(
  { query, variables: JSON.parse(variables) },
  {
    next: (value) => {
      say('next ' + JSON.stringify(value));
      received += 1;
      if (received === wanted) {
        unsubscribe();
        say('complete');
        client.dispose();
      }
    },
    error: (error) => {
      const detail = error && error.code ? `${error.code} ${error.reason}` : JSON.stringify(error);
      say('error ' + detail);
      client.dispose();
      process.exitCode = 1;
    },
    complete: () => say('server-complete'),
  },
);

// A safety net: the test has its own deadline, this one frees the process.
setTimeout(() => {
  say('timeout');
  process.exit(2);
}, 60_000).unref();
