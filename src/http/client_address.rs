//! The client's address, for rate-limiting anonymous traffic.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, request::Parts},
};

use super::HttpState;

/// The peer of the TCP connection; behind a trusted proxy
/// (`PAYGRAPH_TRUST_PROXY`), the last `X-Forwarded-For` entry: the one our
/// proxy appended. Earlier entries are the client's to write and are never
/// believed.
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<HttpState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if state.app.config.server.trust_proxy
            && let Some(forwarded) = last_forwarded(&parts.headers)
        {
            return Ok(Self(Some(forwarded)));
        }
        Ok(Self(peer))
    }
}

fn last_forwarded(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_appended_entry_is_the_last() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "6.6.6.6, 10.0.0.1".parse().unwrap());
        h.append("x-forwarded-for", "203.0.113.7".parse().unwrap());
        assert_eq!(last_forwarded(&h), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(last_forwarded(&HeaderMap::new()), None);
    }
}
