//! The Redis client every connection is made from: plain (`redis://`) or
//! TLS (`rediss://`), with the AUTH token in the URL as ElastiCache's is
//! written (`rediss://:token@host:port`), trusting the public roots or the
//! CA that `REDIS_TLS_CA_FILE` names.

use std::path::Path;

use redis::{Client, RedisError, TlsCertificates};

use super::CacheError;

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
    let root_cert = std::fs::read(ca_file)
        .map_err(|e| CacheError::Config(format!("REDIS_TLS_CA_FILE {}: {e}", ca_file.display())))?;
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
pub async fn check_trust(client: &Client, timeout: std::time::Duration) -> Result<(), CacheError> {
    if !matches!(
        client.get_connection_info().addr,
        redis::ConnectionAddr::TcpTls { .. }
    ) {
        return Ok(());
    }
    match tokio::time::timeout(timeout, client.get_multiplexed_async_connection()).await {
        Ok(Err(e)) if is_untrusted_certificate(&e) => Err(CacheError::Untrusted(e.to_string())),
        _ => Ok(()),
    }
}
