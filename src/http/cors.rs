//! Which browser origins may call the API from another origin
//! (`PAYGRAPH_CORS_ORIGINS`), for CORS and for the WebSocket upgrade.
//!
//! Each entry is an origin, `scheme://host[:port]`, whose host may start
//! with `*.` (any subdomain, not the domain itself) and whose port may be
//! `*` (any port, or none). An entry without a scheme is `https://`.
//! Unset, the embedded default allows `http://localhost:*` and
//! `http://127.0.0.1:*` (a front end's development server), and any other
//! deployment allows no other origin.
//!
//! No credentials mode: tokens travel in the `Authorization` header, never
//! in cookies, so a browser needs no `Access-Control-Allow-Credentials`.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;

/// What the embedded default allows while `PAYGRAPH_CORS_ORIGINS` is unset.
const EMBEDDED_DEFAULT: &str = "http://localhost:*,http://127.0.0.1:*";

/// How long a browser may cache a preflight's answer.
pub const MAX_AGE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Exact(String),
    /// `*.example.com`: kept as `.example.com`.
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Port {
    /// No port written: the scheme's default.
    Default,
    Any,
    Exact(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    scheme: String,
    host: Host,
    port: Port,
}

/// The allowed origins.
#[derive(Debug, Clone, Default)]
pub struct Origins(Vec<Pattern>);

impl Origins {
    /// The origins the configuration allows; the error names the entry
    /// that does not read.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let list = match &config.server.cors_origins {
            Some(list) => list.as_str(),
            None if config.is_sqlite() => EMBEDDED_DEFAULT,
            None => "",
        };
        Self::parse(list)
    }

    fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                pattern(entry).ok_or_else(|| {
                    format!(
                        "configuration error: PAYGRAPH_CORS_ORIGINS: `{entry}` is not an origin \
                         (scheme://host[:port], host may start with `*.`, port may be `*`)"
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `origin` (an `Origin` header's value) is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        let Some(origin) = parse_origin(origin) else {
            return false;
        };
        self.0.iter().any(|p| p.matches(&origin))
    }

    /// Whether a request's `Origin`, when it has one, is allowed: one of
    /// the list, or the server's own origin (the `Host` the browser
    /// connected to, as GraphiQL's page does).
    pub fn allows_request(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let same_origin = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .zip(origin.split_once("://"))
            .is_some_and(|(host, (_, authority))| authority.eq_ignore_ascii_case(host));
        same_origin || self.allows(origin)
    }

    /// tower-http's layer: simple requests and preflights from an allowed
    /// origin get `Access-Control-Allow-Origin` naming it; others get no
    /// CORS header at all.
    pub fn layer(self) -> CorsLayer {
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origin.to_str().is_ok_and(|o| self.allows(o))
            }))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("ratelimit-limit"),
                HeaderName::from_static("ratelimit-remaining"),
                HeaderName::from_static("ratelimit-reset"),
                header::RETRY_AFTER,
            ])
            .max_age(MAX_AGE)
    }
}

/// An origin as a browser sends it: scheme, host and an optional port.
struct Origin<'a> {
    scheme: &'a str,
    host: String,
    port: Option<u16>,
}

fn parse_origin(origin: &str) -> Option<Origin<'_>> {
    let (scheme, authority) = origin.split_once("://")?;
    let (host, port) = split_port(authority)?;
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok()?),
    };
    if host.is_empty() || host.contains(['/', '@', '*']) {
        return None;
    }
    Some(Origin {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// `host` and the text after its port's `:`; an IPv6 literal keeps its
/// brackets.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    Some(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn pattern(entry: &str) -> Option<Pattern> {
    let (scheme, authority) = entry.split_once("://").unwrap_or(("https", entry));
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        return None;
    }
    let (host, port) = split_port(authority)?;
    let port = match port {
        None => Port::Default,
        Some("*") => Port::Any,
        Some(p) => Port::Exact(p.parse().ok()?),
    };
    let host = host.to_ascii_lowercase();
    let host = match host.strip_prefix("*.") {
        Some(domain) => Host::Suffix(format!(".{domain}")),
        None => Host::Exact(host),
    };
    let name = match &host {
        Host::Exact(h) | Host::Suffix(h) => h.trim_start_matches('.'),
    };
    if name.is_empty() || name.contains(['/', '@', '*']) {
        return None;
    }
    Some(Pattern {
        scheme: scheme.to_ascii_lowercase(),
        host,
        port,
    })
}

impl Pattern {
    fn matches(&self, origin: &Origin<'_>) -> bool {
        let host = match &self.host {
            Host::Exact(h) => origin.host == *h,
            Host::Suffix(s) => origin.host.len() > s.len() && origin.host.ends_with(s.as_str()),
        };
        let port = match self.port {
            Port::Default => origin.port.is_none(),
            Port::Any => true,
            Port::Exact(p) => origin.port == Some(p),
        };
        origin.scheme.eq_ignore_ascii_case(&self.scheme) && host && port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly_or_by_suffix() {
        let origins =
            Origins::parse("https://app.example.com, *.example.org, http://localhost:*").unwrap();
        for allowed in [
            "https://app.example.com",
            "https://a.example.org",
            "https://a.b.example.org",
            "http://localhost",
            "http://localhost:5173",
        ] {
            assert!(origins.allows(allowed), "{allowed}");
        }
        for refused in [
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://evil.app.example.com",
            "https://example.org",
            "https://evilexample.org",
            "http://a.example.org",
            "https://localhost:5173",
            "http://localhost.evil.com",
            "null",
            "",
        ] {
            assert!(!origins.allows(refused), "{refused}");
        }
    }

    #[test]
    fn the_embedded_default_allows_local_development_servers_only() {
        let embedded = Origins::from_config(&Config::default()).unwrap();
        assert!(embedded.allows("http://localhost:3000"));
        assert!(embedded.allows("http://127.0.0.1:8081"));
        assert!(!embedded.allows("https://app.example.com"));
        let mut config = Config::default();
        config.database.url = "postgres://db/pay".into();
        let production = Origins::from_config(&config).unwrap();
        assert!(!production.allows("http://localhost:3000"));
    }

    #[test]
    fn an_entry_that_is_not_an_origin_is_refused() {
        for bad in [
            "https://",
            "https://*.",
            "https://a.com:port",
            "https://a.com/path",
        ] {
            assert!(Origins::parse(bad).is_err(), "{bad}");
        }
    }
}
