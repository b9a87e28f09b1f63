//! A schema extension that bounds a document's text, nesting, aliases,
//! depth and complexity, gives every error a stable code, and records each
//! operation's metrics (labelled by its kind and root field, never by a
//! name the client chose) and what the access log says of it.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use async_graphql::{
    Pos, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
        NextRequest, NextValidation,
    },
    parser::types::{ExecutableDocument, OperationType},
};

use super::{
    caller::caller_of_request,
    document_bounds::DocumentBounds,
    errors::Code,
    int_range,
    observed::{self, Operation},
    operation_class, shape,
};
use crate::auth::Caller;

pub struct GuardRails {
    pub max_aliases: usize,
    /// Depth outside introspection (introspection has its own bounds).
    pub max_depth: usize,
    /// async-graphql's complexity of the operation, as validation counts it.
    pub max_complexity: usize,
    /// Bounds on the document's text, checked before it is parsed.
    pub document: DocumentBounds,
}

impl ExtensionFactory for GuardRails {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardRailsForRequest {
            max_aliases: self.max_aliases,
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
            document: self.document,
            state: Mutex::default(),
        })
    }
}

struct GuardRailsForRequest {
    max_aliases: usize,
    max_depth: usize,
    max_complexity: usize,
    document: DocumentBounds,
    state: Mutex<Seen>,
}

/// What the hooks learn of the request as it goes.
#[derive(Default)]
struct Seen {
    operation_name: Option<String>,
    /// The selected operation's kind and root fields, once parsed.
    root: Option<(&'static str, Vec<String>)>,
    validated: bool,
    /// The caller, when a user (request data is readable from parsing on).
    user_id: Option<uuid::Uuid>,
}

impl GuardRailsForRequest {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.state.lock().expect("guard rails state")
    }

    /// The operation as metrics and the log know it: `invalid` unless its
    /// document validated (only then are its root fields the schema's).
    fn operation(&self) -> Operation {
        let seen = self.seen();
        let (kind, label) = match &seen.root {
            Some((kind, fields)) if seen.validated => (*kind, observed::label(kind, fields)),
            _ => (INVALID, INVALID.to_owned()),
        };
        Operation {
            kind,
            label,
            user_id: seen.user_id,
            ..Default::default()
        }
        .with_name(seen.operation_name.as_deref())
    }
}

const INVALID: &str = "invalid";

fn kind_name(kind: OperationType) -> &'static str {
    match kind {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

fn too_complex(message: String, pos: Option<Pos>) -> ServerError {
    let mut error = ServerError::new(message, pos);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", Code::QueryTooComplex.as_str());
    error
}

/// Errors that reach here without a code come from parsing, validation or
/// input coercion: the request was at fault. Every limit refuses with its
/// own code before the library's checks meet the document (see
/// `prepare_request` and `validation`).
fn code_errors(response: &mut Response) {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let field = offending_field(&error.message).map(str::to_owned);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", Code::BadUserInput.as_str());
        if let Some(field) = field {
            extensions.set("field", field);
        }
    }
}

/// The input field an input-value error is about. Validation writes
/// `Invalid value for argument "input.amount", expected type "Decimal"`,
/// for a value in the variables and one in the document alike (the API's
/// scalars check their values there), or names the field of an input
/// object: `Invalid value for argument "input", field "amount" of type
/// "Decimal!" is required but not provided`, `..., unknown field "x" ...`.
fn offending_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("Invalid value for argument \"")?;
    let (path, rest) = rest.split_once('"')?;
    let named = rest
        .strip_prefix(", field \"")
        .or_else(|| rest.strip_prefix(", unknown field \""))
        .and_then(|r| r.split_once('"'))
        .map(|(name, _)| name);
    named.or_else(|| path.rsplit('.').find(|s| s.parse::<usize>().is_err()))
}

#[async_trait::async_trait]
impl Extension for GuardRailsForRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let mut response = next.run(ctx).await;
        code_errors(&mut response);
        let mut operation = self.operation();
        metrics::counter!("paygraph_graphql_requests_total", "operation" => operation.label.clone())
            .increment(1);
        metrics::histogram!("paygraph_graphql_request_duration_seconds", "operation" => operation.label.clone())
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
            metrics::counter!("paygraph_graphql_errors_total", "code" => code.clone()).increment(1);
            operation.codes.push(code);
        }
        observed::record(operation);
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        self.seen().operation_name = request.operation_name.clone();
        let mut request = next.run(ctx, request).await?;
        if let Some(Caller::User(principal)) = caller_of_request(ctx, &request) {
            self.seen().user_id = Some(principal.user_id);
        }
        // Before the parser: it recurses once per nesting level.
        self.document.check(&request.query, &request.variables)?;
        // Parsed here (once: the request keeps the document) so that the
        // nesting of selection sets is refused before async-graphql's own
        // recursion check, which runs with the parse, meets it.
        let doc = request.parsed_query()?;
        if let Some(pos) = shape::nested_past(doc, shape::MAX_RECURSION) {
            return Err(too_complex(
                format!(
                    "The recursion depth of the query cannot be greater than `{}`",
                    shape::MAX_RECURSION
                ),
                Some(pos),
            ));
        }
        Ok(request)
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if let Some((path, pos)) = int_range::first_oversized_int(&doc, variables) {
            return Err(ServerError::new(
                format!("Invalid value for argument \"{path}\", Int takes 32 bits at most"),
                Some(pos),
            ));
        }
        if shape::count_aliases(&doc) > self.max_aliases {
            return Err(too_complex(
                format!("Query uses more than {} aliases", self.max_aliases),
                None,
            ));
        }
        let measured = shape::measure(&doc);
        if measured.depth > self.max_depth {
            return Err(too_complex("Query is nested too deep".to_owned(), None));
        }
        if measured.introspection_depth > shape::INTROSPECTION_MAX_DEPTH
            || measured.introspection_lists > shape::INTROSPECTION_MAX_LISTS
        {
            return Err(too_complex(
                "Introspection is nested too deep".to_owned(),
                None,
            ));
        }
        let mut seen = self.seen();
        seen.root = operation_class::root_fields(&doc, seen.operation_name.as_deref())
            .map(|(kind, fields)| (kind_name(kind), fields));
        drop(seen);
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = match next.run(ctx).await {
            Ok(valid) if valid.complexity > self.max_complexity => {
                Err(vec![too_complex("Query is too complex.".to_owned(), None)])
            }
            result => result,
        };
        self.seen().validated = result.is_ok();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::offending_field;

    #[test]
    fn the_field_is_the_last_name_of_the_argument_path() {
        for (message, field) in [
            (
                r#"Invalid value for argument "input.amount", expected type "Decimal""#,
                Some("amount"),
            ),
            (
                r#"Invalid value for argument "first", expected type "Int""#,
                Some("first"),
            ),
            (
                r#"Invalid value for argument "input.items.2", expected type "String""#,
                Some("items"),
            ),
            (
                r#"Invalid value for argument "input", field "amount" of type "Decimal!" is required but not provided"#,
                Some("amount"),
            ),
            (
                r#"Invalid value for argument "input", unknown field "colour" of type "TransferInput""#,
                Some("colour"),
            ),
            ("Unknown field \"x\" on type \"Query\".", None),
        ] {
            assert_eq!(offending_field(message), field, "{message}");
        }
    }
}
