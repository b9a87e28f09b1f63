// The client libraries front ends use, against the server, as an app would
// use them: urql with its default settings (short queries over GET), and
// Apollo Client with its automatic persisted-query link and its batch link;
// subscriptions through urql's subscriptionExchange and Apollo's
// GraphQLWsLink, both over graphql-ws.
//
// usage: node clients.mjs <http-url of /graphql>
// Prints one JSON object of what the clients saw (and what they sent, as
// recorded by the fetch they were given); tests/api/clients.rs checks it.
// Any error a client reports ends the run with a non-zero exit and the error.
import { createHash } from 'node:crypto';

import { Client, cacheExchange, fetchExchange, subscriptionExchange, gql as urqlGql } from 'urql';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { BatchHttpLink } from '@apollo/client/link/batch-http';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url] = process.argv.slice(2);
const wsUrl = url.replace(/^http/, 'ws');
const seen = {};

// What went over the wire: each request's method, whether its body was a
// batch, whether it carried a document or only a persisted-query hash, and
// the error codes of its answer.
const wire = [];
function recordingFetch(label) {
  return async (input, init = {}) => {
    const method = (init.method || 'GET').toUpperCase();
    const target = new URL(typeof input === 'string' ? input : input.url);
    let body = null;
    if (init.body) body = JSON.parse(init.body);
    const params = target.searchParams;
    const one = Array.isArray(body) ? body[0] : body;
    const response = await fetch(input, init);
    const text = await response.clone().text();
    let codes = [];
    try {
      const answer = JSON.parse(text);
      const answers = Array.isArray(answer) ? answer : [answer];
      codes = answers.flatMap((a) => (a.errors || []).map((e) => e.extensions && e.extensions.code));
    } catch {
      codes = ['not-json'];
    }
    wire.push({
      client: label,
      method,
      status: response.status,
      batch: Array.isArray(body) ? body.length : null,
      hasQuery: method === 'GET' ? params.has('query') : Boolean(one && one.query),
      hashOnly:
        method === 'GET'
          ? !params.has('query') && params.has('extensions')
          : Boolean(one && !one.query && one.extensions && one.extensions.persistedQuery),
      codes,
    });
    return response;
  };
}

const say = (object) => process.stdout.write(JSON.stringify(object) + '\n');
const fail = (where, error) => {
  say({ failed: where, error: String(error && (error.stack || error.message || error)), seen, wire });
  process.exit(1);
};

// A safety net: the Rust test has its own deadline, this one frees the process.
setTimeout(() => fail('timeout', 'the clients did not finish in 60 s'), 60_000).unref();

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const email = (tag) => `${tag}.${Date.now()}.${Math.random().toString(16).slice(2, 8)}@example.com`;

// --- urql, default settings ---------------------------------------------
function urqlClient(token) {
  let ws = null;
  if (token) {
    ws = createWsClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
  }
  const exchanges = [cacheExchange, fetchExchange];
  if (ws) {
    exchanges.push(
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              const dispose = ws.subscribe(input, sink);
              return { unsubscribe: dispose };
            },
          };
        },
      }),
    );
  }
  const client = new Client({
    url,
    exchanges,
    fetch: recordingFetch('urql'),
    fetchOptions: () => (token ? { headers: { Authorization: `Bearer ${token}` } } : {}),
  });
  return { client, ws };
}

async function urqlRun(client, op, document, variables) {
  const result = await client[op](document, variables, { requestPolicy: 'network-only' }).toPromise();
  if (result.error) fail(`urql ${op}`, result.error);
  return result.data;
}

// --- Apollo Client --------------------------------------------------------
function apolloClient(token, kind) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  let link;
  if (kind === 'apq') {
    link = ApolloLink.from([
      new PersistedQueryLink({ sha256 }),
      new HttpLink({ uri: url, headers, fetch: recordingFetch('apollo-apq') }),
    ]);
  } else if (kind === 'batch') {
    link = new BatchHttpLink({
      uri: url,
      headers,
      fetch: recordingFetch('apollo-batch'),
      batchMax: 10,
      batchInterval: 20,
    });
  } else {
    const ws = createWsClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    link = new GraphQLWsLink(ws);
    return { client: new ApolloClient({ link, cache: new InMemoryCache() }), ws };
  }
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }) };
}

async function apolloQuery(client, query, variables) {
  try {
    return (await client.query({ query, variables, fetchPolicy: 'network-only' })).data;
  } catch (e) {
    fail('apollo query', e);
  }
}

async function apolloMutate(client, mutation, variables) {
  try {
    return (await client.mutate({ mutation, variables })).data;
  } catch (e) {
    fail('apollo mutation', e);
  }
}

// --- the documents --------------------------------------------------------
const REGISTER = `mutation Register($i: RegisterInput!) { register(input: $i) { token user { id email } } }`;
const ME = `query Me { me { id email } }`;
const CREATE_WALLET = `mutation CreateWallet($c: CurrencyCode!) { createWallet(input: {currency: $c}) { id } }`;
const ADD_CARD = `mutation AddCard($n: String!) { addPaymentMethod(input: {card: {number: $n, expiryMonth: 12, expiryYear: 2035}}) { id } }`;
const DEPOSIT = `mutation Deposit($i: DepositInput!) { deposit(input: $i) { id status } }`;
const TRANSACTION = `query Transaction($id: ID!) { transaction(id: $id) { id status } }`;
const TRANSFER = `mutation Transfer($i: TransferInput!) { transfer(input: $i) { id status amount { amount currency } } }`;
const WALLET = `query Wallet($id: ID!) { wallet(id: $id) { id balance { amount currency } } }`;
const WALLET_UPDATED = `subscription WalletUpdated($id: ID) { walletUpdated(id: $id) { id balance { amount currency } } }`;

const person = (tag) => ({ email: email(tag), password: 'correct horse battery staple', firstName: 'Ada', lastName: tag });

// Follows a subscription: `live` settles with its first value (a wallet
// subscription starts with the wallet as it is, so then the server has it),
// `matched` with the first value `wanted` accepts.
function follow(subscribe, wanted, label) {
  let live, matched;
  const liveP = new Promise((resolve, reject) => (live = { resolve, reject }));
  const matchedP = new Promise((resolve, reject) => (matched = { resolve, reject }));
  const timer = setTimeout(() => matched.reject(new Error(`${label}: no matching event within 20 s`)), 20_000);
  const stop = subscribe({
    next: (value) => {
      if (value.errors && value.errors.length) {
        const e = new Error(`${label}: ${JSON.stringify(value.errors)}`);
        live.reject(e);
        matched.reject(e);
        return;
      }
      live.resolve(value);
      if (wanted(value)) {
        clearTimeout(timer);
        matched.resolve(value);
      }
    },
    error: (e) => {
      const error = new Error(`${label}: ${JSON.stringify(e && (e.message || e.reason || e))}`);
      live.reject(error);
      matched.reject(error);
    },
  });
  return { live: liveP, matched: matchedP, stop };
}

try {
  // Two customers register, one through each library.
  const anonymous = urqlClient(null).client;
  const payerReg = (await urqlRun(anonymous, 'mutation', urqlGql(REGISTER), { i: person('payer') })).register;
  const apolloAnonymous = apolloClient(null, 'batch').client;
  const payeeReg = (await apolloMutate(apolloAnonymous, gql(REGISTER), { i: person('payee') })).register;

  // urql, default settings: a query goes over GET and answers.
  const payer = urqlClient(payerReg.token);
  const me = await urqlRun(payer.client, 'query', urqlGql(ME), {});
  seen.urqlMe = me.me.email === payerReg.user.email;

  // The payer funds a wallet by card, through urql.
  const payerWallet = (await urqlRun(payer.client, 'mutation', urqlGql(CREATE_WALLET), { c: 'USD' })).createWallet.id;
  const card = (await urqlRun(payer.client, 'mutation', urqlGql(ADD_CARD), { n: '4242424242424242' })).addPaymentMethod.id;
  const deposit = (
    await urqlRun(payer.client, 'mutation', urqlGql(DEPOSIT), {
      i: { walletId: payerWallet, paymentMethodId: card, amount: '100.00', idempotencyKey: `fund-${Date.now()}` },
    })
  ).deposit;
  for (let status = deposit.status; status === 'PENDING' || status === 'PROCESSING'; ) {
    await new Promise((r) => setTimeout(r, 50));
    status = (await urqlRun(payer.client, 'query', urqlGql(TRANSACTION), { id: deposit.id })).transaction.status;
    seen.depositStatus = status;
  }

  // Apollo with the APQ link: the payee's wallet, then the same query
  // twice (the first time the server asks for the document, the second it
  // knows the hash).
  const payeeApq = apolloClient(payeeReg.token, 'apq').client;
  const payeeWallet = (await apolloMutate(payeeApq, gql(CREATE_WALLET), { c: 'USD' })).createWallet.id;
  const before = await apolloQuery(payeeApq, gql(WALLET), { id: payeeWallet });
  const again = await apolloQuery(payeeApq, gql(WALLET), { id: payeeWallet });
  seen.apqBalances = [before.wallet.balance.amount, again.wallet.balance.amount];

  // Subscriptions: urql's on the payee's wallet, Apollo's (GraphQLWsLink)
  // on the payer's.
  const funded = await urqlRun(payer.client, 'query', urqlGql(WALLET), { id: payerWallet });
  seen.fundedBalance = funded.wallet.balance.amount;
  const payee = urqlClient(payeeReg.token);
  const credit = follow(
    (sink) =>
      payee.client
        .subscription(urqlGql(WALLET_UPDATED), { id: payeeWallet })
        .subscribe((result) => (result.error ? sink.error(result.error) : sink.next({ data: result.data })))
        .unsubscribe,
    (v) => v.data.walletUpdated.balance.amount !== '0.00',
    'urql subscription',
  );
  const payerSocket = apolloClient(payerReg.token, 'ws');
  const debit = follow(
    (sink) => {
      const sub = payerSocket.client
        .subscribe({ query: gql(WALLET_UPDATED), variables: { id: payerWallet } })
        .subscribe(sink);
      return () => sub.unsubscribe();
    },
    (v) => v.data && v.data.walletUpdated.balance.amount !== seen.fundedBalance,
    'apollo subscription',
  );
  await Promise.all([credit.live, debit.live]);

  // Apollo with the batch link: the transfer, then two reads sent at once
  // (one HTTP request holding both).
  const payerBatch = apolloClient(payerReg.token, 'batch').client;
  const sent = (
    await apolloMutate(payerBatch, gql(TRANSFER), {
      i: { recipientEmail: payeeReg.user.email, amount: '25.00', currency: 'USD', idempotencyKey: `t-${Date.now()}` },
    })
  ).transfer;
  seen.transferStatus = sent.status;
  const [payerAfter, payerMe] = await Promise.all([
    apolloQuery(payerBatch, gql(WALLET), { id: payerWallet }),
    apolloQuery(payerBatch, gql(ME), {}),
  ]);
  seen.payerBalanceAfter = payerAfter.wallet.balance.amount;
  seen.batchMe = payerMe.me.email === payerReg.user.email;

  // A later query, through urql over GET, sees the mutation's effect.
  const credited = await urqlRun(payee.client, 'query', urqlGql(WALLET), { id: payeeWallet });
  seen.payeeBalanceAfter = credited.wallet.balance.amount;

  const [credited_, debited] = await Promise.all([credit.matched, debit.matched]);
  seen.urqlSubscriptionBalance = credited_.data.walletUpdated.balance.amount;
  seen.apolloSubscriptionBalance = debited.data.walletUpdated.balance.amount;
  credit.stop();
  debit.stop();
  payer.ws.dispose();
  payee.ws.dispose();
  payerSocket.ws.dispose();

  say({ seen, wire });
  process.exit(0);
} catch (e) {
  fail('scenario', e);
}
