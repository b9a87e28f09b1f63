//! Trusted documents (`PAYGRAPH_TRUSTED_DOCUMENTS`): the operations a
//! release of the front ends may send, read from the manifest Apollo's
//! `generate-persisted-query-manifest` and GraphQL Codegen's persisted
//! documents write:
//!
//! ```json
//! {"format": "apollo-persisted-query-manifest", "version": 1,
//!  "operations": [{"id": "…", "name": "Me", "type": "query", "body": "query Me { … }"}]}
//! ```
//!
//! A client names an operation by its id in
//! `extensions.persistedQuery.sha256Hash` with no `query` (what Apollo's
//! persisted-query link sends), or sends its body exactly as the manifest
//! has it. Every caller may name a manifest operation by id; everything
//! else is `OPERATION_NOT_ALLOWED` for every caller except a support agent
//! when `PAYGRAPH_TRUSTED_DOCUMENTS_SUPPORT_ANY` is on (the support
//! console's ad hoc queries).
//!
//! The check is a schema extension, so every transport goes through it:
//! GET and POST, each operation of a batch, and each `subscribe` message of
//! a WebSocket.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::Arc,
};

use async_graphql::{
    Request, ServerResult, Value,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest},
    parser::types::{DocumentOperations, OperationType},
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{
    caller::caller_of_request,
    errors::{ApiError, Code},
};
use crate::auth::{Caller, Role};

/// The manifest's `format`, as Apollo's tools write it.
pub const FORMAT: &str = "apollo-persisted-query-manifest";

/// The extension that names an operation by its id (Apollo's).
const EXTENSION: &str = "persistedQuery";

/// One operation of a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub body: String,
}

#[derive(Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    operations: Vec<Operation>,
}

/// A manifest, read and checked: each operation's body parses and is the
/// one operation its `name` and `type` say.
#[derive(Debug)]
pub struct TrustedDocuments {
    operations: Vec<Operation>,
    /// Body by id, and by the SHA-256 (lowercase hex) of the body, so that
    /// a client hashing bodies finds them under a manifest of other ids.
    by_id: HashMap<String, usize>,
    bodies: HashSet<String>,
    support_any: bool,
}

impl TrustedDocuments {
    /// Reads the manifest at `path`; the error is one line for the operator.
    pub fn load(path: &Path, support_any: bool) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text, support_any).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads a manifest's text.
    pub fn parse(text: &str, support_any: bool) -> Result<Self, String> {
        let manifest: Manifest =
            serde_json::from_str(text).map_err(|e| format!("not a manifest: {e}"))?;
        if manifest.format != FORMAT || manifest.version != 1 {
            return Err(format!(
                "format {:?} version {}: expected {FORMAT:?} version 1",
                manifest.format, manifest.version
            ));
        }
        let mut by_id = HashMap::new();
        let mut bodies = HashSet::new();
        for (i, op) in manifest.operations.iter().enumerate() {
            let at = || format!("operation {} (id {:?})", i + 1, op.id);
            if op.id.is_empty() {
                return Err(format!("{}: the id is empty", at()));
            }
            if by_id.insert(op.id.clone(), i).is_some() {
                return Err(format!("{}: the id is used twice", at()));
            }
            check_body(op).map_err(|e| format!("{}: {e}", at()))?;
            by_id.entry(sha256_hex(&op.body)).or_insert(i);
            bodies.insert(op.body.clone());
        }
        Ok(Self {
            operations: manifest.operations,
            by_id,
            bodies,
            support_any,
        })
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Whether the caller may run only the manifest's operations.
    pub fn restricts(&self, caller: &Caller) -> bool {
        let support = matches!(caller, Caller::User(p) if p.has_role(Role::Support));
        !(self.support_any && support)
    }

    /// Gives a request that names a manifest operation by id (and sends no
    /// document) that operation's body; `false` when it names none.
    pub fn resolve_id(&self, request: &mut Request) -> bool {
        if !request.query.is_empty() {
            return false;
        }
        let Some(Value::Object(fields)) = request.extensions.get(EXTENSION) else {
            return false;
        };
        let Some(Value::String(id)) = fields.get("sha256Hash") else {
            return false;
        };
        let found = self
            .by_id
            .get(id)
            .or_else(|| self.by_id.get(&id.to_ascii_lowercase()));
        let Some(&i) = found else {
            return false;
        };
        request.query = self.operations[i].body.clone();
        request.extensions.remove(EXTENSION);
        true
    }

    /// Lets the request run when the caller may run it: a manifest
    /// operation (by id or by its exact body), or anything for a caller the
    /// manifest does not restrict.
    pub fn admit(&self, caller: &Caller, request: &mut Request) -> Result<(), ApiError> {
        self.resolve_id(request);
        if !self.restricts(caller) || self.bodies.contains(request.query.as_str()) {
            return Ok(());
        }
        Err(ApiError::new(
            Code::OperationNotAllowed,
            "this API runs only its trusted documents, and this operation is not one of them",
        ))
    }
}

/// The body parses and holds the one operation the entry names.
fn check_body(op: &Operation) -> Result<(), String> {
    let doc = async_graphql::parser::parse_query(&op.body).map_err(|e| {
        // The parser draws the place over several lines; the operator
        // gets one.
        let text = e.to_string();
        format!(
            "the body does not parse: {}",
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        )
    })?;
    let (name, kind) = match &doc.operations {
        DocumentOperations::Single(o) => (String::new(), o.node.ty),
        DocumentOperations::Multiple(ops) if ops.len() == 1 => {
            let (name, o) = ops.iter().next().expect("one operation");
            (name.to_string(), o.node.ty)
        }
        DocumentOperations::Multiple(_) => {
            return Err("the body holds more than one operation".into());
        }
    };
    let kind = match kind {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    if op.kind != kind {
        return Err(format!("the body is a {kind}, the entry says {}", op.kind));
    }
    if op.name != name {
        return Err(format!(
            "the body's operation is named {name:?}, the entry says {:?}",
            op.name
        ));
    }
    Ok(())
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The schema extension that admits each request before it is parsed.
pub struct Guard(pub Arc<TrustedDocuments>);

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guard(self.0.clone()))
    }
}

#[async_trait::async_trait]
impl Extension for Guard {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // Without a caller (a tool that only measures documents), the
        // caller is anonymous, which the manifest restricts.
        let caller = caller_of_request(ctx, &request)
            .cloned()
            .unwrap_or(Caller::Anonymous);
        if let Err(e) = self.0.admit(&caller, &mut request) {
            let error: async_graphql::Error = e.into();
            let mut error = error.into_server_error(async_graphql::Pos::default());
            error.locations.clear();
            return Err(error);
        }
        next.run(ctx, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(ops: serde_json::Value) -> String {
        serde_json::json!({"format": FORMAT, "version": 1, "operations": ops}).to_string()
    }

    const ME: &str = "query Me { me { id } }";

    #[test]
    fn a_manifest_of_good_operations_reads() {
        let text = manifest(serde_json::json!([
            {"id": "a1", "name": "Me", "type": "query", "body": ME},
        ]));
        let docs = TrustedDocuments::parse(&text, false).unwrap();
        assert_eq!(docs.operations().len(), 1);
        let mut by_hash = Request::new("");
        by_hash.extensions.insert(
            EXTENSION.into(),
            async_graphql::value!({"version": 1, "sha256Hash": sha256_hex(ME)}),
        );
        assert!(docs.resolve_id(&mut by_hash));
        assert_eq!(by_hash.query, ME);
        assert!(docs.admit(&Caller::Anonymous, &mut by_hash).is_ok());
        let mut other = Request::new("query Me { me { id email } }");
        assert!(docs.admit(&Caller::Anonymous, &mut other).is_err());
    }

    #[test]
    fn a_bad_manifest_says_what_is_wrong() {
        let cases = [
            ("{}".to_owned(), "not a manifest"),
            (
                serde_json::json!({"format": "x", "version": 1, "operations": []}).to_string(),
                "expected",
            ),
            (
                manifest(
                    serde_json::json!([{"id": "a", "name": "Me", "type": "query", "body": "query Me {"}]),
                ),
                "does not parse",
            ),
            (
                manifest(
                    serde_json::json!([{"id": "a", "name": "Me", "type": "mutation", "body": ME}]),
                ),
                "is a query",
            ),
            (
                manifest(
                    serde_json::json!([{"id": "a", "name": "You", "type": "query", "body": ME}]),
                ),
                "named",
            ),
            (
                manifest(serde_json::json!([
                    {"id": "a", "name": "Me", "type": "query", "body": ME},
                    {"id": "a", "name": "Me", "type": "query", "body": ME},
                ])),
                "used twice",
            ),
        ];
        for (text, expected) in cases {
            let e = TrustedDocuments::parse(&text, false).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }
}
