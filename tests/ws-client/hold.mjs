// Opens <count> sockets with the reference client, each holding one
// subscription, and keeps them open until killed: a quick check of how many
// sockets one instance holds and its memory then (see README).
//
// usage: node hold.mjs <ws-url> <token> <count>
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, count] = process.argv.slice(2);
let acked = 0;
let failed = 0;
const codes = {};
for (let i = 0; i < Number(count); i++) {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: false,
    on: {
      connected: () => {
        acked += 1;
        if (acked + failed === Number(count)) console.log(`held ${acked} failed ${failed}`);
      },
      closed: (event) => {
        failed += 1;
        codes[event.code] = (codes[event.code] || 0) + 1;
      },
    },
  });
  client.subscribe(
    { query: 'subscription { transactionUpdated { id status version } }' },
    { next: () => {}, error: () => {}, complete: () => {} },
  );
  // Pace the handshakes a little so the server is not flooded at once.
  if (i % 200 === 199) await new Promise((r) => setTimeout(r, 50));
}
setInterval(() => console.log(`acked ${acked} closed ${failed} ${JSON.stringify(codes)}`), 5000);
