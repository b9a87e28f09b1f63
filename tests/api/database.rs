//! The connections to PostgreSQL themselves.

use paygraph::{
    config::Config,
    db::{self, nodelay},
};
use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::helpers::fresh_postgres_database;

/// A statement sent in more than one write (a ledger batch's writes are
/// larger than TLS buffers at once) must not wait for the server's delayed
/// ACK: every connection the pool opens sends without Nagle's delay.
#[tokio::test]
async fn connections_to_postgres_send_without_delay() {
    let url = fresh_postgres_database().await;
    let peers = nodelay::database_peers(&url).await;
    assert!(!peers.is_empty(), "{url} resolves to no address");
    let before = nodelay::sockets_to(&peers);
    let mut config = Config::default();
    config.database.url = url.into();
    config.database.min_connections = 3;
    config.database.max_connections = 3;
    let pool = db::connect(&config).await.expect("connect");
    // Three transactions at once hold three connections.
    let mut open = Vec::new();
    for _ in 0..3 {
        let txn = pool.begin().await.expect("begin");
        txn.execute_unprepared("SELECT 1")
            .await
            .expect("a statement");
        open.push(txn);
    }

    let opened: Vec<_> = nodelay::sockets_to(&peers)
        .into_iter()
        .filter(|s| !before.contains(s))
        .collect();
    assert_eq!(opened.len(), 3, "the pool's connections: {opened:?}");
    assert!(
        opened.iter().all(|&(_, nodelay)| nodelay),
        "connections that delay small writes: {opened:?}"
    );
}

/// `db::nodelay` exists only because sqlx leaves Nagle's algorithm on. When
/// an upgrade of sqlx sets `TCP_NODELAY` itself, this fails: remove the
/// workaround then.
#[tokio::test]
async fn sqlx_by_itself_still_delays_small_writes() {
    use sea_orm::sqlx::{Connection, PgConnection};
    let url = fresh_postgres_database().await;
    let peers = nodelay::database_peers(&url).await;
    let before = nodelay::sockets_to(&peers);
    let conn = PgConnection::connect(&url).await.expect("connect");
    let opened: Vec<_> = nodelay::sockets_to(&peers)
        .into_iter()
        .filter(|s| !before.contains(s))
        .collect();
    assert_eq!(opened.len(), 1, "sqlx's connection: {opened:?}");
    assert!(
        !opened[0].1,
        "sqlx now sets TCP_NODELAY itself: delete src/db/nodelay.rs and its call in db::connect"
    );
    conn.close().await.expect("close");
}
