//! Black-box tests: each starts the real server on port 0 with a fresh
//! database, and talks to it over HTTP. Every behavioural test runs twice:
//! against the embedded default (SQLite, in-process cache) and against
//! PostgreSQL + Redis (each test its own database and key prefix).

mod dynamo;
mod helpers;

mod audit;
mod audit_dynamodb;
mod auth;
mod cli;
mod ledger;
mod limits;
mod payment_methods;
mod profile;
mod reads;
mod service;
