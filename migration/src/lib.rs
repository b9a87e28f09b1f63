//! Schema migrations for paygraph.
//!
//! Every migration here must apply and roll back on both PostgreSQL (production)
//! and SQLite (local development and tests), so they are written with sea-query
//! builders only; see the module docs of the first migration for the deliberate
//! deviations from the seed schema.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_user_tables;
mod m20261125_000002_create_account_tables;
mod m20261125_000003_create_ledger_tables;
mod m20261125_000004_create_idempotency_and_audit_outbox;
mod m20261125_000010_user_search_indexes;
mod m20261126_000001_create_embedded_audit_store;
mod m20261127_000001_transactions_sender_receiver_index;
mod m20261127_000002_create_outgoing_tallies;
mod m20261128_000001_idempotency_keys_unbound_transaction;
mod m20261203_000001_balance_history_sequence;
mod m20261203_000002_create_sessions;
mod m20261204_000001_create_audit_dead_letters;
mod m20261204_000005_idempotency_keys_created_at_index;
mod m20261204_000010_create_payment_requests;
mod m20261204_000020_create_second_factor;
mod m20261204_000021_sessions_step_up;
mod m20261204_000030_create_change_feed;
mod m20261204_000090_create_support_actions;
mod timestamp;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_user_tables::Migration),
            Box::new(m20261125_000002_create_account_tables::Migration),
            Box::new(m20261125_000003_create_ledger_tables::Migration),
            Box::new(m20261125_000004_create_idempotency_and_audit_outbox::Migration),
            Box::new(m20261125_000010_user_search_indexes::Migration),
            Box::new(m20261126_000001_create_embedded_audit_store::Migration),
            Box::new(m20261127_000001_transactions_sender_receiver_index::Migration),
            Box::new(m20261127_000002_create_outgoing_tallies::Migration),
            Box::new(m20261128_000001_idempotency_keys_unbound_transaction::Migration),
            Box::new(m20261203_000001_balance_history_sequence::Migration),
            Box::new(m20261203_000002_create_sessions::Migration),
            Box::new(m20261204_000001_create_audit_dead_letters::Migration),
            Box::new(m20261204_000005_idempotency_keys_created_at_index::Migration),
            Box::new(m20261204_000010_create_payment_requests::Migration),
            Box::new(m20261204_000020_create_second_factor::Migration),
            Box::new(m20261204_000021_sessions_step_up::Migration),
            Box::new(m20261204_000030_create_change_feed::Migration),
            Box::new(m20261204_000090_create_support_actions::Migration),
        ]
    }
}
