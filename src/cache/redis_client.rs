//! The Redis client every connection is made from: plain (`redis://`) or
//! TLS (`rediss://`), with the AUTH token in the URL as ElastiCache's is
//! written (`rediss://:token@host:port`), trusting the public roots or the
//! CA that `REDIS_TLS_CA_FILE` names. One node, or with `REDIS_CLUSTER` a
//! Redis Cluster found from the seed nodes `REDIS_URL` lists
//! (comma-separated): [`RedisClient`].

use std::path::Path;

use redis::{
    Client, ProtocolVersion, RedisError, TlsCertificates,
    aio::{AsyncPushSender, ConnectionLike, MultiplexedConnection},
    cluster::{ClusterClient, ClusterClientBuilder},
    cluster_async::ClusterConnection,
};

use super::CacheError;

/// Where the cache's connections go: one Redis node, or a Redis Cluster
/// (whose connection routes each command to the node owning its key's
/// hash slot, and follows the cluster as slots move).
#[derive(Clone)]
pub enum RedisClient {
    Node(Client),
    Cluster(ClusterSeeds),
}

/// A cluster's seed nodes and the CA to trust; each connection is built
/// from them (the subscriber connection with a push sender of its own).
#[derive(Clone)]
pub struct ClusterSeeds {
    urls: Vec<String>,
    root_cert: Option<Vec<u8>>,
}

impl ClusterSeeds {
    fn builder(&self) -> ClusterClientBuilder {
        let mut builder = ClusterClientBuilder::new(self.urls.iter().map(String::as_str))
            // A call is bounded by `REDIS_TIMEOUT_MS` anyway; a node that
            // does not answer fails it there, and the breaker takes over.
            .retries(2);
        if let Some(root_cert) = &self.root_cert {
            builder = builder.certs(TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert.clone()),
            });
        }
        builder
    }

    fn client(&self) -> Result<ClusterClient, RedisError> {
        self.builder().build()
    }
}

/// One connection of either kind; both multiplex their commands, and the
/// cluster one routes each to its slot's node.
#[derive(Clone)]
pub enum Link {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Link::Node(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Link::Node(c) => c.req_packed_commands(cmd, offset, count),
            Link::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Node(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisClient {
    /// The client `REDIS_URL` (and `REDIS_CLUSTER`, `REDIS_TLS_CA_FILE`)
    /// describe: with `cluster`, `url` lists one or more seed nodes,
    /// comma-separated, all plain or all TLS.
    pub fn open(url: &str, ca_file: Option<&Path>, cluster: bool) -> Result<Self, CacheError> {
        if !cluster {
            return Ok(Self::Node(client(url, ca_file)?));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let urls: Vec<String> = url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        let root_cert = match ca_file {
            None => None,
            Some(ca_file) => {
                if !urls.iter().all(|u| u.starts_with("rediss://")) {
                    return Err(CacheError::Config(
                        "configuration error: REDIS_TLS_CA_FILE is for a rediss:// REDIS_URL"
                            .into(),
                    ));
                }
                Some(read_ca(ca_file)?)
            }
        };
        let seeds = ClusterSeeds { urls, root_cert };
        // Checks the URLs (and that they agree on TLS and the token) now.
        seeds.client()?;
        Ok(Self::Cluster(seeds))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// A client of one node (a cluster's first seed), for the trust check:
    /// a cluster connection reports a failed handshake as text only.
    fn first_node(&self) -> Result<Client, RedisError> {
        match self {
            Self::Node(c) => Ok(c.clone()),
            Self::Cluster(s) => match &s.root_cert {
                None => Client::open(s.urls[0].as_str()),
                Some(root_cert) => Client::build_with_tls(
                    s.urls[0].as_str(),
                    TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert.clone()),
                    },
                ),
            },
        }
    }

    /// A new connection for commands.
    pub async fn connect(&self) -> Result<Link, RedisError> {
        match self {
            Self::Node(c) => Ok(Link::Node(c.get_multiplexed_async_connection().await?)),
            Self::Cluster(s) => Ok(Link::Cluster(s.client()?.get_async_connection().await?)),
        }
    }

    /// A new connection for (sharded) pub/sub: RESP3, its messages and its
    /// disconnection handed to `pushes`.
    pub async fn connect_subscriber(
        &self,
        pushes: impl AsyncPushSender,
    ) -> Result<Link, RedisError> {
        match self {
            Self::Node(c) => {
                let mut info = c.get_connection_info().clone();
                info.redis.protocol = ProtocolVersion::RESP3;
                let config = redis::AsyncConnectionConfig::new().set_push_sender(pushes);
                let conn = Client::open(info)?
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(Link::Node(conn))
            }
            Self::Cluster(s) => {
                let client = s
                    .builder()
                    .use_protocol(ProtocolVersion::RESP3)
                    .push_sender(pushes)
                    .build()?;
                Ok(Link::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

fn read_ca(ca_file: &Path) -> Result<Vec<u8>, CacheError> {
    std::fs::read(ca_file)
        .map_err(|e| CacheError::Config(format!("REDIS_TLS_CA_FILE {}: {e}", ca_file.display())))
}

/// A client for `url`; with `ca_file`, TLS trusts that CA (a PEM file)
/// instead of the public roots.
pub fn client(url: &str, ca_file: Option<&Path>) -> Result<Client, CacheError> {
    // Two rustls providers are compiled in (ring through sqlx, aws-lc-rs
    // through the AWS SDK), so rustls cannot choose one by itself: the
    // process's TLS clients that ask for the default get ring. Installing
    // it again is refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(ca_file) = ca_file else {
        return Ok(Client::open(url)?);
    };
    if !url.starts_with("rediss://") {
        return Err(CacheError::Config(
            "configuration error: REDIS_TLS_CA_FILE is for a rediss:// REDIS_URL".into(),
        ));
    }
    let root_cert = read_ca(ca_file)?;
    let certificates = TlsCertificates {
        client_tls: None,
        root_cert: Some(root_cert),
    };
    Ok(Client::build_with_tls(url, certificates)?)
}

/// Whether a connection failed because the server's certificate is not
/// trusted (an unknown CA, a name that does not match, an expired
/// certificate): a setting to fix, not an outage to wait out.
pub fn is_untrusted_certificate(e: &RedisError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(rustls::Error::InvalidCertificate(_)) = err.downcast_ref::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(rustls::Error::InvalidCertificate(_)) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// At start-up: a TLS server whose certificate is not trusted stops the
/// instance with one line; Redis merely down does not (calls fall back
/// until it answers).
pub async fn check_trust(
    client: &RedisClient,
    timeout: std::time::Duration,
) -> Result<(), CacheError> {
    let client = client.first_node()?;
    if !matches!(
        client.get_connection_info().addr,
        redis::ConnectionAddr::TcpTls { .. }
    ) {
        return Ok(());
    }
    match tokio::time::timeout(timeout, client.get_multiplexed_async_connection()).await {
        Ok(Err(e)) if is_untrusted_certificate(&e) => Err(CacheError::Untrusted(e)),
        _ => Ok(()),
    }
}
