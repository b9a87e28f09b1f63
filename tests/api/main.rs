//! Black-box tests: each starts the real server on port 0 with a fresh
//! database, and talks to it over HTTP. Every behavioural test runs twice:
//! against the embedded default (SQLite, in-process cache) and against
//! PostgreSQL + Redis (each test its own database and key prefix).

mod dynamo;
mod helpers;
mod invariants;
mod ws;

mod access_log;
mod audit;
mod audit_dynamodb;
mod audit_relay;
mod audit_sqs;
mod auth;
mod browser;
mod change_feed;
mod chaos;
mod cli;
mod clients;
mod database;
mod devices;
mod events;
mod faults;
mod four_eyes;
mod graphiql;
mod history;
mod hostile_input;
mod http_edge;
mod idempotency_retention;
mod introspection;
mod ledger;
mod limits;
mod payment_methods;
mod payment_requests;
mod persisted_queries;
mod profile;
mod rate_limits;
mod read_replica;
mod reads;
mod redis_cluster;
mod redis_outage;
mod service;
mod statements;
mod step_up;
mod subscriptions;
mod support;
mod tls;
mod trusted_documents;
mod two_factor;
