//! Apollo's automatic persisted queries: a request may carry
//! `extensions.persistedQuery {version: 1, sha256Hash}` in place of, or
//! beside, its document. With the document, the hash is checked and the
//! document registered; without, the registered document is run, or the
//! answer is `PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`),
//! which tells Apollo's clients to send the document with its hash.

use async_graphql::{Request, Value};
use sha2::{Digest, Sha256};

use super::{
    document_bounds::DocumentBounds,
    errors::{ApiError, Code},
    trusted_documents::TrustedDocuments,
};
use crate::{auth::Caller, cache::persisted_queries::PersistedQueries};

const EXTENSION: &str = "persistedQuery";

/// The exact message Apollo's clients look for.
const NOT_FOUND: &str = "PersistedQueryNotFound";

/// Gives the request its document when it names one by hash. Once
/// resolved, the request carries no `persistedQuery` any more: resolving
/// it again does nothing; one that fails keeps it. Documents longer than `max_bytes` or past the document bounds
/// are run (execution reports the latter) but never registered.
///
/// With trusted documents, a manifest id names its operation for every
/// caller; for a caller the manifest restricts, nothing else resolves and
/// nothing is registered: the schema's guard refuses what is left.
pub async fn resolve(
    store: &PersistedQueries,
    trusted: Option<&TrustedDocuments>,
    caller: &Caller,
    request: &mut Request,
    bounds: &DocumentBounds,
    max_bytes: usize,
) -> Result<(), ApiError> {
    if let Some(trusted) = trusted
        && (trusted.resolve_id(request) || trusted.restricts(caller))
    {
        return Ok(());
    }
    let Some(extension) = request.extensions.get(EXTENSION) else {
        return Ok(());
    };
    let hash = requested_hash(extension)?;
    if request.query.is_empty() {
        match store.get(&hash).await {
            Ok(Some(document)) => {
                request.query = document;
                request.extensions.remove(EXTENSION);
                Ok(())
            }
            Ok(None) => Err(ApiError::new(Code::PersistedQueryNotFound, NOT_FOUND)),
            // The client sends the document again, and that runs.
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a persisted query");
                Err(ApiError::new(Code::PersistedQueryNotFound, NOT_FOUND))
            }
        }
    } else {
        if sha256_hex(&request.query) != hash {
            return Err(ApiError::new(
                Code::BadUserInput,
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
            ));
        }
        let registrable = request.query.len() <= max_bytes
            && bounds.check(&request.query, &Default::default()).is_ok();
        if registrable && let Err(e) = store.put(&hash, &request.query).await {
            // The query still runs; the next hash-only request is told to
            // send it again.
            tracing::warn!(error = %e, "cannot register a persisted query");
        }
        request.extensions.remove(EXTENSION);
        Ok(())
    }
}

/// The lowercase hex hash of a version 1 `persistedQuery`.
fn requested_hash(extension: &Value) -> Result<String, ApiError> {
    let bad = |message: &str| Err(ApiError::new(Code::BadUserInput, message));
    let Value::Object(fields) = extension else {
        return bad("extensions.persistedQuery is not an object");
    };
    if fields.get("version") != Some(&Value::from(1)) {
        return bad("extensions.persistedQuery.version: only version 1 is supported");
    }
    match fields.get("sha256Hash") {
        Some(Value::String(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(h.to_ascii_lowercase())
        }
        _ => bad("extensions.persistedQuery.sha256Hash is not a SHA-256 hash in hex"),
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }

    #[test]
    fn only_version_1_with_a_hex_hash_is_read() {
        let ok = async_graphql::value!({"version": 1, "sha256Hash": "AB".repeat(32)});
        assert_eq!(requested_hash(&ok).unwrap(), "ab".repeat(32));
        let v2 = async_graphql::value!({"version": 2, "sha256Hash": "ab".repeat(32)});
        assert!(requested_hash(&v2).is_err());
        let short = async_graphql::value!({"version": 1, "sha256Hash": "abc"});
        assert!(requested_hash(&short).is_err());
    }
}
