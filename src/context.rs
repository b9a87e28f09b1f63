//! The state every request shares: stores and domain services.

use sea_orm::DatabaseConnection;

use crate::{
    auth::Auth, cache::Cache, config::Config, customer::Customers, ledger::Ledger, support::Support,
};

#[derive(Clone)]
pub struct ApiContext {
    pub db: DatabaseConnection,
    pub cache: Cache,
    pub auth: Auth,
    pub customers: Customers,
    pub ledger: Ledger,
    pub support: Support,
    pub config: std::sync::Arc<Config>,
}
