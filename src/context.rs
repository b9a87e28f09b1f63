//! The state every request shares: stores and domain services.

use sea_orm::DatabaseConnection;

use crate::{
    audit::AuditLog,
    auth::Auth,
    cache::{Cache, events::EventBus, rate_limit::RateLimiter, transactions::TransactionCache},
    config::Config,
    customer::Customers,
    db::{Reads, retry::Retry},
    ledger::{Ledger, StatementExports},
    support::Support,
};

#[derive(Clone)]
pub struct ApiContext {
    pub db: DatabaseConnection,
    pub cache: Cache,
    pub auth: Auth,
    pub customers: Customers,
    pub audit: AuditLog,
    pub ledger: Ledger,
    pub support: Support,
    pub config: std::sync::Arc<Config>,
    /// `txn:{id}`, for status reads.
    pub transactions: TransactionCache,
    /// Subscriptions read changes from here.
    pub events: EventBus,
    pub rate_limits: RateLimiter,
    /// Where the reporting reads go: the read replica or the primary.
    pub reads: Reads,
    /// How reads run again after a lost connection.
    pub retry: Retry,
    /// Signs and reads the links of statement exports.
    pub exports: StatementExports,
}
