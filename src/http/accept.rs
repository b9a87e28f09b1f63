//! What the client's `Accept` asks for, as the GraphQL-over-HTTP
//! specification reads it: `application/graphql-response+json` when the
//! client names it (and likes nothing better), otherwise
//! `application/json`, the answer legacy clients (and `*/*`, and no
//! `Accept` at all) get.

use axum::http::{HeaderMap, header};

pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
const HTML: &str = "text/html";

/// The media type of a GraphQL answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/graphql-response+json`: a request that cannot run (it
    /// does not parse or validate) is a 4xx.
    GraphQLResponse,
    /// `application/json`: every GraphQL answer is a 200.
    Json,
}

impl Media {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::GraphQLResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// How specifically an `Accept` range matched a media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    Any,
    Subtype,
    Exact,
}

/// The `q` of the most specific range matching `media` (0 when none
/// does), and how specific that range is.
fn quality(headers: &HeaderMap, media: &str) -> (f32, Option<Match>) {
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    let mut best: Option<(Match, f32)> = None;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let specificity = if essence == media {
                Match::Exact
            } else if essence.strip_suffix("/*").is_some_and(|k| k == kind) {
                Match::Subtype
            } else if essence == "*/*" {
                Match::Any
            } else {
                continue;
            };
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, q));
            }
        }
    }
    match best {
        Some((s, q)) => (q, Some(s)),
        None => (0.0, None),
    }
}

/// The media type to answer a GraphQL request in.
pub fn response_media(headers: &HeaderMap) -> Media {
    let (graphql, graphql_match) = quality(headers, GRAPHQL_RESPONSE);
    let (json, _) = quality(headers, JSON);
    // Named outright and liked at least as much as `application/json`.
    let named = graphql_match == Some(Match::Exact);
    if graphql > json || (named && graphql > 0.0 && graphql >= json) {
        Media::GraphQLResponse
    } else {
        Media::Json
    }
}

/// Whether the client names HTML and likes no JSON answer better: a
/// browser's address bar, not a GraphQL client.
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let (html, html_match) = quality(headers, HTML);
    let json = quality(headers, JSON)
        .0
        .max(quality(headers, GRAPHQL_RESPONSE).0);
    html_match == Some(Match::Exact) && html > 0.0 && html >= json
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn accept(value: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(header::ACCEPT, HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn the_answer_is_json_unless_graphql_response_json_is_named() {
        let cases = [
            (None, Media::Json),
            (Some("*/*"), Media::Json),
            (Some("application/*"), Media::Json),
            (Some("application/json"), Media::Json),
            (Some("text/html"), Media::Json),
            (
                Some("application/graphql-response+json"),
                Media::GraphQLResponse,
            ),
            (
                Some("application/graphql-response+json, application/json;q=0.9"),
                Media::GraphQLResponse,
            ),
            (
                Some("application/json, application/graphql-response+json"),
                Media::GraphQLResponse,
            ),
            (
                Some("application/graphql-response+json;q=0.5, application/json"),
                Media::Json,
            ),
            (
                Some("application/graphql-response+json;q=0, */*"),
                Media::Json,
            ),
        ];
        for (value, media) in cases {
            assert_eq!(response_media(&accept(value)), media, "{value:?}");
        }
    }

    #[test]
    fn a_browser_prefers_html_and_a_client_does_not() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(prefers_html(&accept(Some(browser))));
        assert!(!prefers_html(&accept(None)));
        assert!(!prefers_html(&accept(Some("*/*"))));
        assert!(!prefers_html(&accept(Some("application/json"))));
        assert!(!prefers_html(&accept(Some(
            "application/json, text/html;q=0.5"
        ))));
    }
}
