//! The state every request shares: stores and domain services.

use sea_orm::DatabaseConnection;

use crate::{
    auth::Auth,
    cache::{Cache, events::EventBus, rate_limit::RateLimiter},
    config::Config,
    customer::Customers,
    ledger::Notifier,
};

#[derive(Clone)]
pub struct ApiContext {
    pub db: DatabaseConnection,
    pub cache: Cache,
    pub auth: Auth,
    pub customers: Customers,
    pub config: std::sync::Arc<Config>,
    /// Subscriptions read changes from here.
    pub events: EventBus,
    /// What the ledger calls after each commit (cache refresh + bus).
    pub notifier: Notifier,
    pub rate_limits: RateLimiter,
}
