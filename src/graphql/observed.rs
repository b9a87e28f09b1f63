//! What a request's GraphQL operations were, for the access log: the HTTP
//! layer runs the request inside [`observe`], and the schema's extension
//! records each operation it executes (a batch records several). Only
//! what the schema bounds or the server itself issued is recorded: the
//! operation's kind, its root field, the caller's opaque user id and the
//! error codes; the client's operation name is kept short.

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use uuid::Uuid;

/// The longest operation name the log keeps.
const MAX_NAME: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operation {
    /// `query`, `mutation` or `subscription`; `invalid` when the document
    /// did not parse or validate.
    pub kind: &'static str,
    /// `kind.rootField` as the metrics label it (see [`label`]).
    pub label: String,
    /// The name the client gave, cut to [`MAX_NAME`] characters.
    pub name: Option<String>,
    pub user_id: Option<Uuid>,
    pub codes: Vec<String>,
}

impl Operation {
    pub fn with_name(mut self, name: Option<&str>) -> Self {
        self.name = name.map(|n| n.chars().take(MAX_NAME).collect());
        self
    }
}

/// The operations one request ran.
#[derive(Debug, Clone, Default)]
pub struct Observed(Arc<Mutex<Vec<Operation>>>);

impl Observed {
    pub fn operations(&self) -> Vec<Operation> {
        self.0.lock().expect("observed operations").clone()
    }
}

tokio::task_local! {
    static CURRENT: Observed;
}

/// Runs `work`, collecting the operations it executes.
pub async fn observe<F: Future>(work: F) -> (F::Output, Observed) {
    let observed = Observed::default();
    let output = CURRENT.scope(observed.clone(), work).await;
    (output, observed)
}

/// Records an operation of the request being observed (none outside
/// [`observe`], as for a subscription's socket).
pub(super) fn record(operation: Operation) {
    let _ = CURRENT.try_with(|observed| {
        observed
            .0
            .lock()
            .expect("observed operations")
            .push(operation);
    });
}

/// The metrics label of an operation: its kind and root field
/// (`mutation.transfer`), `kind.multiple` when it selects several root
/// fields. Root fields come from a validated document, so the labels are
/// bounded by the schema, whatever the client names its operations.
pub fn label(kind: &str, root_fields: &[String]) -> String {
    match root_fields {
        [] => format!("{kind}.none"),
        [first, rest @ ..] if rest.iter().all(|f| f == first) => format!("{kind}.{first}"),
        _ => format!("{kind}.multiple"),
    }
}

/// Every label [`label`] gives a valid operation of this schema's root
/// types (besides `kind.multiple` and `__typename`), so the metrics can
/// show each from start.
pub fn schema_labels() -> Vec<String> {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let sdl = super::sdl();
    let document = async_graphql::parser::parse_schema(&sdl).expect("the schema's own SDL parses");
    let mut labels = Vec::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let kind = match ty.node.name.node.as_str() {
            "Query" => "query",
            "Mutation" => "mutation",
            "Subscription" => "subscription",
            _ => continue,
        };
        if let TypeKind::Object(object) = &ty.node.kind {
            labels.extend(
                object
                    .fields
                    .iter()
                    .map(|f| format!("{kind}.{}", f.node.name.node)),
            );
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_one_root_field() {
        let fields = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            label("mutation", &fields(&["transfer"])),
            "mutation.transfer"
        );
        assert_eq!(
            label("mutation", &fields(&["transfer", "transfer"])),
            "mutation.transfer"
        );
        assert_eq!(label("query", &fields(&["me", "node"])), "query.multiple");
    }

    #[test]
    fn the_schema_labels_cover_each_root_type() {
        let labels = schema_labels();
        for expected in [
            "query.me",
            "mutation.transfer",
            "subscription.walletUpdated",
        ] {
            assert!(
                labels.iter().any(|l| l == expected),
                "{expected} in {labels:?}"
            );
        }
    }

    #[tokio::test]
    async fn operations_are_seen_only_inside_observe() {
        record(Operation::default());
        let ((), observed) = observe(async {
            record(Operation {
                kind: "query",
                ..Default::default()
            });
        })
        .await;
        assert_eq!(observed.operations().len(), 1);
    }
}
