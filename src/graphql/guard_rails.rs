//! A schema extension that bounds aliases, gives every error a stable
//! code, and records per-operation metrics.

use std::{sync::Arc, time::Instant};

use async_graphql::{
    Response, ServerError, ServerResult, Value, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
        NextRequest,
    },
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};
use std::sync::Mutex;

use super::errors::Code;

pub struct GuardRails {
    pub max_aliases: usize,
}

impl ExtensionFactory for GuardRails {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardRailsForRequest {
            max_aliases: self.max_aliases,
            operation: Mutex::new(None),
        })
    }
}

struct GuardRailsForRequest {
    max_aliases: usize,
    operation: Mutex<Option<String>>,
}

/// Operation names become metric labels; only tidy, short ones are kept
/// so a client cannot grow the label set without bound by accident.
fn metric_label(name: Option<&str>) -> String {
    match name {
        Some(n) if n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            n.to_owned()
        }
        Some(_) => "invalid_name".to_owned(),
        None => "anonymous".to_owned(),
    }
}

fn count_aliases(doc: &ExecutableDocument) -> usize {
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) => {
                    usize::from(f.node.alias.is_some()) + walk(&f.node.selection_set.node)
                }
                Selection::InlineFragment(f) => walk(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node))
        .sum();
    let fragments: usize = doc
        .fragments
        .values()
        .map(|f| walk(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

/// async-graphql's own messages for its depth and complexity limits.
fn is_limit_message(message: &str) -> bool {
    message.contains("nested too deep")
        || message.contains("too complex")
        || message.contains("Too many")
}

/// Errors that reach here without a code come from parsing, validation or
/// input coercion: the request was at fault.
fn code_errors(response: &mut Response) {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let code = if is_limit_message(&error.message) {
            Code::QueryTooComplex
        } else {
            Code::BadUserInput
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code.as_str());
    }
}

#[async_trait::async_trait]
impl Extension for GuardRailsForRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let mut response = next.run(ctx).await;
        code_errors(&mut response);
        let operation = metric_label(self.operation.lock().expect("lock").as_deref());
        metrics::counter!("paygraph_graphql_requests_total", "operation" => operation.clone())
            .increment(1);
        metrics::histogram!("paygraph_graphql_request_duration_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        for error in &response.errors {
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            metrics::counter!("paygraph_graphql_errors_total", "code" => code).increment(1);
        }
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        *self.operation.lock().expect("lock") = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if count_aliases(&doc) > self.max_aliases {
            let mut error = ServerError::new(
                format!("Query uses more than {} aliases", self.max_aliases),
                None,
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", Code::QueryTooComplex.as_str());
            return Err(error);
        }
        Ok(doc)
    }
}
