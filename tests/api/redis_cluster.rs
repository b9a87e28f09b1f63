//! The Redis-backed behaviour on a Redis Cluster (`REDIS_CLUSTER=true`,
//! `scripts/redis-cluster`'s three masters): the same test bodies as on one
//! node, run with every app they start pointed at the cluster; and where
//! the keys land.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use serde_json::json;

use crate::{
    helpers::{
        Backend, key_of, on_redis_cluster, redis_cluster_masters, spawn_app, spawn_app_with,
    },
    subscriptions::WALLET_UPDATED,
    ws::{DEADLINE, Ws},
};

// Sessions and the user's standing, read together from the cache.
#[tokio::test]
async fn a_session_in_use_costs_no_database_statement() {
    on_redis_cluster(crate::auth::a_session_in_use_costs_no_database_statement(
        Backend::Postgres,
    ))
    .await
}

#[tokio::test]
async fn logout_revokes_the_token_at_once() {
    on_redis_cluster(crate::auth::logout_revokes_the_token_at_once(
        Backend::Postgres,
    ))
    .await
}

#[tokio::test]
async fn the_device_list_shows_each_login_on_every_instance() {
    on_redis_cluster(
        crate::devices::the_device_list_shows_each_login_on_every_instance(Backend::Postgres),
    )
    .await
}

#[tokio::test]
async fn revoking_a_session_ends_it_on_every_instance_at_once() {
    on_redis_cluster(
        crate::devices::revoking_a_session_ends_it_on_every_instance_at_once(Backend::Postgres),
    )
    .await
}

#[tokio::test]
async fn logout_everywhere_keeps_only_the_current_session() {
    on_redis_cluster(
        crate::devices::logout_everywhere_keeps_only_the_current_session(Backend::Postgres),
    )
    .await
}

// Rate limits (one script per key).
#[tokio::test]
async fn over_the_limit_is_rate_limited_with_the_budget_in_headers() {
    on_redis_cluster(
        crate::rate_limits::over_the_limit_is_rate_limited_with_the_budget_in_headers(
            Backend::Postgres,
        ),
    )
    .await
}

#[tokio::test]
async fn money_movement_is_counted_per_root_field() {
    on_redis_cluster(
        crate::rate_limits::money_movement_is_counted_per_root_field(Backend::Postgres),
    )
    .await
}

#[tokio::test]
async fn anonymous_auth_is_limited_by_client_address() {
    on_redis_cluster(
        crate::rate_limits::anonymous_auth_is_limited_by_client_address(Backend::Postgres),
    )
    .await
}

#[tokio::test]
async fn a_limit_holds_across_two_instances() {
    on_redis_cluster(crate::rate_limits::two_instances_share_a_budget()).await
}

// The event bus: sharded pub/sub, one channel per user.
#[tokio::test]
async fn a_subscriber_on_one_instance_hears_a_transfer_made_through_another() {
    on_redis_cluster(
        crate::events::a_transfer_through_one_instance_reaches_a_subscriber_on_another(),
    )
    .await
}

#[tokio::test]
async fn a_wallets_events_arrive_with_strictly_increasing_versions() {
    on_redis_cluster(
        crate::events::a_wallets_events_arrive_with_strictly_increasing_versions(Backend::Postgres),
    )
    .await
}

#[tokio::test]
async fn a_user_never_sees_another_users_events() {
    on_redis_cluster(crate::events::a_user_never_sees_another_users_events(
        Backend::Postgres,
    ))
    .await
}

#[tokio::test]
async fn a_subscription_by_id_starts_with_the_current_state() {
    on_redis_cluster(
        crate::subscriptions::a_subscription_by_id_starts_with_the_current_state(Backend::Postgres),
    )
    .await
}

#[tokio::test]
async fn logout_ends_open_subscriptions() {
    on_redis_cluster(crate::subscriptions::logout_ends_open_subscriptions(
        Backend::Postgres,
    ))
    .await
}

fn connect(master: &str) -> redis::Connection {
    redis::Client::open(format!("redis://{master}"))
        .expect("a master's URL")
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("master {master} unreachable: {e}"))
}

/// The keys of a test's prefix on one master, by SCAN.
fn keys_on(master: &str, prefix: &str) -> Vec<String> {
    let mut conn = connect(master);
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// After a workload of many users, every master holds some of the test's
/// keys (the cache is spread over the shards), and each user's session and
/// standing sit on one master together (their hash tag), as the session
/// check reads both in one command.
#[tokio::test]
async fn keys_land_on_every_master_and_a_users_keys_together() {
    on_redis_cluster(async {
        let app = spawn_app(Backend::Postgres).await;
        for _ in 0..30 {
            let user = app.register().await;
            let me = app.me(&user.token).await;
            assert_eq!(me["data"]["me"]["id"], user.id.as_str(), "{me}");
            let _ = app
                .gql("{ __typename }", json!({}), Some(&user.token))
                .await;
        }
        let prefix = &app.config.redis.key_prefix;
        let mut masters_of_user: HashMap<String, HashSet<String>> = HashMap::new();
        for master in redis_cluster_masters() {
            let keys = keys_on(&master, prefix);
            assert!(
                keys.iter().any(|k| k.contains("session:")),
                "master {master} holds no session of the test: {keys:?}"
            );
            for key in keys {
                if let Some((_, rest)) = key.split_once('{')
                    && let Some((user, _)) = rest.split_once('}')
                {
                    masters_of_user
                        .entry(user.to_owned())
                        .or_default()
                        .insert(master.clone());
                }
            }
        }
        assert!(masters_of_user.len() >= 30, "{masters_of_user:?}");
        for (user, masters) in &masters_of_user {
            assert_eq!(masters.len(), 1, "user {user}'s keys are on {masters:?}");
        }
    })
    .await
}

/// How many connections one master has subscribed to a sharded channel.
fn shard_subscribers(master: &str, channel: &str) -> i64 {
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("SHARDNUMSUB")
        .arg(channel)
        .query(&mut connect(master))
        .expect("PUBSUB SHARDNUMSUB");
    count
}

/// The bus is sharded by user: while a user has a subscription on an
/// instance, that instance is subscribed to the user's channel on the one
/// master owning its slot, and on no other; once the subscription ends,
/// the instance unsubscribes.
#[tokio::test]
async fn a_users_channel_is_followed_on_its_own_shard_while_they_subscribe() {
    on_redis_cluster(async {
        let app = spawn_app(Backend::Postgres).await;
        let user = app.register().await;
        let wallet = app.create_wallet(&user.token, "USD").await;
        let channel = format!(
            "{}events:{{{}}}",
            app.config.redis.key_prefix,
            key_of(&user.id)
        );
        let masters = redis_cluster_masters();
        let counts = || -> Vec<i64> {
            masters
                .iter()
                .map(|m| shard_subscribers(m, &channel))
                .collect()
        };
        assert_eq!(counts().iter().sum::<i64>(), 0, "no subscriber yet");

        let mut ws = Ws::connect(&app, Some(&user.token)).await.acked();
        ws.subscribe("w", WALLET_UPDATED, json!({"id": wallet}))
            .await;
        // The wallet's current state: the subscription is live.
        let first = ws.next_payload().await;
        assert!(first["data"]["walletUpdated"].is_object(), "{first}");
        let live = counts();
        assert_eq!(
            (
                live.iter().filter(|c| **c == 1).count(),
                live.iter().sum::<i64>()
            ),
            (1, 1),
            "one master, and one connection, has the user's channel: {live:?}"
        );

        ws.complete("w").await;
        let deadline = Instant::now() + DEADLINE;
        while counts().iter().sum::<i64>() != 0 {
            assert!(
                Instant::now() < deadline,
                "the instance still follows the channel: {:?}",
                counts()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// A cluster that does not answer leaves the instance serving: sessions
/// are read from the database, and `/readyz` says the cache is degraded
/// while the instance stays ready.
#[tokio::test]
async fn an_unreachable_cluster_falls_back_to_the_database() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    on_redis_cluster(async {
        let app = spawn_app_with(Backend::Postgres, |c| {
            c.redis.url = Some(format!("redis://127.0.0.1:{port}").into());
        })
        .await;
        assert!(app.config.redis.cluster);
        let user = app.register().await;
        let me = app.me(&user.token).await;
        assert_eq!(me["data"]["me"]["id"], user.id.as_str(), "{me}");
        let deadline = Instant::now() + DEADLINE;
        loop {
            let res = app.get("/readyz").await;
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap();
            if status == 200 && body["backends"]["cache"]["state"] == "degraded" {
                break;
            }
            assert!(Instant::now() < deadline, "{status} {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// A three-master cluster of this test's own (the suite's is shared by
/// tests running at once): redis-server children, stopped on drop.
struct PrivateCluster {
    ports: Vec<u16>,
    children: Vec<std::process::Child>,
    _dir: tempfile::TempDir,
}

impl PrivateCluster {
    fn start() -> Self {
        use std::process::{Command, Stdio};
        let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        let mut ports = Vec::new();
        while ports.len() < 3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            // The cluster bus listens on the port + 10000.
            if port < 55_000 && free(port + 10_000) && !ports.contains(&port) {
                ports.push(port);
            }
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        let children = ports
            .iter()
            .map(|port| {
                let node_dir = dir.path().join(port.to_string());
                std::fs::create_dir(&node_dir).unwrap();
                Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args([
                        "--cluster-enabled",
                        "yes",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ])
                    .arg("--dir")
                    .arg(&node_dir)
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("redis-server is installed")
            })
            .collect();
        let cluster = Self {
            ports,
            children,
            _dir: dir,
        };
        let deadline = Instant::now() + DEADLINE;
        for port in &cluster.ports {
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(Instant::now() < deadline, "a private node did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli is installed");
        assert!(out.status.success(), "redis-cli --cluster create: {out:?}");
        for node in &nodes {
            loop {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut connect(node))
                    .expect("CLUSTER INFO");
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "the private cluster: {info}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    fn seeds(&self) -> String {
        let urls: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        urls.join(",")
    }

    /// Drops every subscribed connection on every node, as a failover or
    /// a network fault does.
    fn kill_subscribers(&self) {
        for port in &self.ports {
            let _: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("pubsub")
                .query(&mut connect(&format!("127.0.0.1:{port}")))
                .expect("CLIENT KILL");
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// When the subscriber connection's links to the shards drop, open
/// subscriptions are told that events may have been missed (the socket
/// closes with 1013, and the client subscribes again); the bus connects
/// again, and a new subscription hears the next change.
#[tokio::test]
async fn a_dropped_shard_link_is_a_gap_and_the_bus_comes_back() {
    let cluster = PrivateCluster::start();
    on_redis_cluster(async {
        let app = spawn_app_with(Backend::Postgres, |c| {
            c.redis.url = Some(cluster.seeds().into())
        })
        .await;
        let ada = app.register().await;
        let bob = app.register().await;
        app.funded_wallet(&ada.token, "USD", "100.00").await;
        let wallet = app.create_wallet(&bob.token, "USD").await;
        let mut ws = Ws::connect(&app, Some(&bob.token)).await.acked();
        ws.subscribe("w", WALLET_UPDATED, json!({"id": wallet}))
            .await;
        ws.next_payload().await;

        cluster.kill_subscribers();
        assert_eq!(ws.closed().await, 1013);

        let deadline = Instant::now() + DEADLINE;
        loop {
            let body: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
            if body["backends"]["events"]["state"] == "up" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the bus did not come back: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut ws = Ws::connect(&app, Some(&bob.token)).await.acked();
        ws.subscribe("w", WALLET_UPDATED, json!({"id": wallet}))
            .await;
        ws.next_payload().await;
        let sent = app
            .transfer(&ada.token, &bob.email, "12.50", "USD", "after-the-gap")
            .await;
        assert!(sent["data"]["transfer"]["id"].is_string(), "{sent}");
        let update = ws.next_payload().await;
        assert_eq!(
            update["data"]["walletUpdated"]["balance"]["amount"], "12.50",
            "{update}"
        );
    })
    .await
}
