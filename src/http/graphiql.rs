//! GraphiQL, served from the binary: the page, its bootstrap script and the
//! vendored GraphiQL, React and ReactDOM bundles (assets/graphiql/, copied
//! from their npm packages by scripts/vendor-graphiql). Nothing is loaded
//! from elsewhere, and the page's Content-Security-Policy allows nothing
//! else: no inline script, no other origin.
//!
//! Every asset's path carries its version (the npm version, or a digest of
//! our own files), so assets are cached for a year as immutable; the page
//! itself is revalidated on every load.

use std::sync::LazyLock;

use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use super::HttpState;

/// The prefix every asset is served under.
pub const PREFIX: &str = "/graphiql/";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

struct Asset {
    /// The name the page template uses.
    name: &'static str,
    /// The path under [`PREFIX`]: version directory and file name.
    path: String,
    bytes: &'static [u8],
    content_type: &'static str,
}

/// A vendored file, under its npm package's name and version.
fn vendored(
    name: &'static str,
    package: &str,
    file: &str,
    bytes: &'static [u8],
    content_type: &'static str,
) -> Asset {
    Asset {
        name,
        path: format!("{package}/{file}"),
        bytes,
        content_type,
    }
}

/// One of our own files, under a digest of its content.
fn own(name: &'static str, bytes: &'static [u8], content_type: &'static str) -> Asset {
    let digest = Sha256::digest(bytes);
    let version: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    Asset {
        name,
        path: format!("{version}/{name}"),
        bytes,
        content_type,
    }
}

macro_rules! asset_bytes {
    ($file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/graphiql/",
            $file
        ))
    };
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        vendored(
            "react.js",
            "react-18.3.1",
            "react.production.min.js",
            asset_bytes!("react-18.3.1/react.production.min.js"),
            JS,
        ),
        vendored(
            "react-dom.js",
            "react-dom-18.3.1",
            "react-dom.production.min.js",
            asset_bytes!("react-dom-18.3.1/react-dom.production.min.js"),
            JS,
        ),
        vendored(
            "graphiql.js",
            "graphiql-3.8.3",
            "graphiql.min.js",
            asset_bytes!("graphiql-3.8.3/graphiql.min.js"),
            JS,
        ),
        vendored(
            "graphiql.css",
            "graphiql-3.8.3",
            "graphiql.min.css",
            asset_bytes!("graphiql-3.8.3/graphiql.min.css"),
            CSS,
        ),
        own(
            "paygraph-graphiql.js",
            asset_bytes!("paygraph-graphiql.js"),
            JS,
        ),
        own("page.css", asset_bytes!("page.css"), CSS),
    ]
});

/// The page, its `{name}` placeholders replaced by the assets' paths.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let template = include_str!("../../assets/graphiql/page.html");
    ASSETS.iter().fold(template.to_owned(), |page, asset| {
        page.replace(
            &format!("{{{}}}", asset.name),
            &format!("{PREFIX}{}", asset.path),
        )
    })
});

/// The GraphiQL page, or 404 while GraphiQL is switched off
/// (`PAYGRAPH_GRAPHIQL`).
pub fn serve(state: &HttpState, headers: &HeaderMap) -> Response {
    if !state.app.config.graphql.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    page(headers)
}

/// The GraphiQL page. Its policy lets it load scripts, styles and the
/// stylesheets' embedded fonts from this origin only, and connect to this
/// origin over HTTP and WebSocket (named for the host the browser asked
/// for, as CSP's `'self'` covers `ws:` only in newer browsers).
pub fn page(headers: &HeaderMap) -> Response {
    let sockets = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|host| is_plain_host(host))
        .map(|host| format!(" ws://{host} wss://{host}"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'{sockets}; object-src 'none'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        PAGE.as_str(),
    )
        .into_response();
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// A host name or address with an optional port: nothing that could end
/// the policy's source list.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// GET /graphiql/{version}/{file}; not found while GraphiQL is switched off.
pub async fn asset(State(state): State<HttpState>, Path(path): Path<String>) -> Response {
    let found = ASSETS.iter().find(|a| a.path == path);
    let Some(asset) = found.filter(|_| state.app.config.graphql.graphiql) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, IMMUTABLE),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.bytes,
    )
        .into_response()
}
