//! The state every request shares: stores and domain services.

use sea_orm::DatabaseConnection;

use crate::{
    audit::AuditLog, auth::Auth, cache::Cache, config::Config, customer::Customers, ledger::Ledger,
};

#[derive(Clone)]
pub struct ApiContext {
    pub db: DatabaseConnection,
    pub cache: Cache,
    pub auth: Auth,
    pub customers: Customers,
    pub audit: AuditLog,
    pub ledger: Ledger,
    pub config: std::sync::Arc<Config>,
}
