//! The relational store: connecting, migrating, opening write
//! transactions the way each engine needs, and sending a unit of work's
//! writes together ([`Writes`]).

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqlxSqliteConnector, TransactionOptions, TransactionTrait, sqlx,
};
use secrecy::ExposeSecret;

use crate::config::{Config, DatabaseConfig};

pub mod nodelay;
pub mod reads;
pub mod retry;
mod unique;
mod writes;

pub use reads::Reads;
pub use unique::UniqueIndex;
pub use writes::Writes;

const PING_IF_IDLE_SECS: u64 = 10;
const STATEMENT_CACHE: usize = 1024;

pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    connect_sized(&config.database, config.database.max_connections).await
}

/// A pool of at most `connections`, otherwise as [`connect`] makes it.
pub async fn connect_sized(
    database: &DatabaseConfig,
    connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    let db = if database.is_sqlite() {
        connect_sqlite(database.url.expose_secret()).await?
    } else {
        let mut options = postgres_options(database, database.url.expose_secret(), connections);
        options.min_connections(database.min_connections.min(connections));
        Database::connect(options).await?
    };
    Ok(counted(db))
}

/// The read replica's pool (`DATABASE_READ_URL`), when there is one:
/// sized as the primary's, opened lazily (a replica that is down does not
/// stop start-up; reads go to the primary meanwhile), and quick to give
/// up on a connection, since the primary can take the read instead.
pub async fn connect_replica(config: &Config) -> Result<Option<DatabaseConnection>, DbErr> {
    let Some(url) = config
        .database
        .read_url
        .as_ref()
        .map(ExposeSecret::expose_secret)
    else {
        return Ok(None);
    };
    if config.is_sqlite() {
        tracing::warn!("DATABASE_READ_URL is ignored with SQLite: every read goes to the database");
        return Ok(None);
    }
    let mut options = postgres_options(&config.database, url, config.database.max_connections);
    options
        .min_connections(0)
        .connect_timeout(REPLICA_CONNECT_TIMEOUT)
        .acquire_timeout(REPLICA_CONNECT_TIMEOUT)
        .connect_lazy(true);
    Ok(Some(counted(Database::connect(options).await?)))
}

/// How long a read waits for a replica connection before the primary
/// takes it.
const REPLICA_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

fn counted(mut db: DatabaseConnection) -> DatabaseConnection {
    // Every statement counted: the cost of a request in statements is
    // something a test (and an operator) can watch.
    db.set_metric_callback(|info| {
        tracing::trace!(target: "paygraph::sql", elapsed = ?info.elapsed, sql = %info.statement.sql, "statement");
        metrics::counter!("paygraph_db_statements_total").increment(1);
        metrics::histogram!("paygraph_db_statement_duration_seconds").record(info.elapsed.as_secs_f64());
        if info.failed {
            metrics::counter!("paygraph_db_statement_errors_total").increment(1);
        }
    });
    db
}

fn postgres_options(database: &DatabaseConfig, url: &str, connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    let url = url.to_owned();
    options
        .after_connect(move |_| {
            let url = url.clone();
            Box::pin(async move {
                // Resolved at every connect: a failover moves the
                // database's name to another address.
                nodelay::set_on_sockets_to(&nodelay::database_peers(&url).await);
                Ok(())
            })
        })
        .max_connections(connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30))
        .max_lifetime(database.max_lifetime)
        // The seed's pre-ping, for connections idle long enough to have
        // been dropped by the server or a proxy; a hot connection goes
        // out without one (a round trip saved per transaction).
        .test_before_acquire_if_idle_for(Duration::from_secs(PING_IF_IDLE_SECS))
        // After a connection was seen lost, the connections idle since
        // before then are tested too: the server may have dropped them
        // all at once (a restart, a failover, pg_terminate_backend).
        .map_sqlx_postgres_before_acquire(|conn, meta| {
            Box::pin(async move {
                if retry::losses::idle_across_loss(meta.idle_for) {
                    use sqlx::Connection;
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        // Batched statements take one shape per batch size (an IN list,
        // a VALUES row per request), so a connection sees more distinct
        // statements than sqlx's default cache of 100 holds: evicted,
        // each would be parsed and planned again.
        .map_sqlx_postgres_opts(|o| o.statement_cache_capacity(STATEMENT_CACHE))
        .sqlx_logging(false);
    options
}

/// SQLite with WAL (readers never wait for the writer), a busy timeout
/// (writers queue instead of failing) and foreign keys on.
async fn connect_sqlite(url: &str) -> Result<DatabaseConnection, DbErr> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let options: SqliteConnectOptions = url
        .parse::<SqliteConnectOptions>()
        .map_err(|e| DbErr::Custom(format!("bad DATABASE_URL: {e}")))?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .map_err(|e| DbErr::Custom(format!("cannot open the SQLite database: {e}")))?;
    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// Begins a transaction that will write. On SQLite it takes the write lock
/// at BEGIN (IMMEDIATE): a deferred transaction that reads and then writes
/// fails with "database is locked" when another writer got there first.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let sqlite_immediate = TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    db.begin_with_options(sqlite_immediate).await
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Names of migrations the database has not applied yet.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    Ok(Migrator::get_pending_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect())
}

pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}

pub fn is_sqlite(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Sqlite
}

/// A connection pool's connections at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub idle: u32,
    pub in_use: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

/// The database pool's connections, idle and in use.
pub fn pool_state(db: &DatabaseConnection) -> PoolState {
    let (size, idle, max) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            let max = pool.options().get_max_connections();
            (pool.size(), pool.num_idle() as u32, max)
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            let max = pool.options().get_max_connections();
            (pool.size(), pool.num_idle() as u32, max)
        }
    };
    PoolState {
        idle,
        in_use: size.saturating_sub(idle),
        max,
    }
}
