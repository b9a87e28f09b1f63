//! What an operation costs as the server counts it (its complexity and its
//! depth), and whether it would pass the schema and the server's limits,
//! without running it: what `paygraph documents check` reports for each
//! operation of a release's manifest.

use std::sync::{Arc, Mutex};

use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
    },
    parser::types::ExecutableDocument,
};

use super::{Limits, builder, shape};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// async-graphql's complexity, which `PAYGRAPH_MAX_COMPLEXITY` bounds.
    pub complexity: usize,
    /// The depth `PAYGRAPH_MAX_DEPTH` bounds (introspection apart).
    pub depth: usize,
}

/// An operation, checked.
#[derive(Debug)]
pub struct Checked {
    /// `None` when the document does not parse or validate.
    pub cost: Option<Cost>,
    /// Why the server would refuse it; empty when it would run.
    pub errors: Vec<String>,
}

/// Checks `document` against the schema under `limits`. Variables are
/// absent: what depends on their values is not known before a client
/// sends them.
pub async fn check(limits: Limits, document: &str) -> Checked {
    let (measured, errors) = validate(
        Limits {
            introspection: limits.introspection,
            ..Limits::NONE
        },
        document,
    )
    .await;
    if !errors.is_empty() {
        return Checked { cost: None, errors };
    }
    let (_, errors) = validate(limits, document).await;
    Checked {
        cost: measured,
        errors,
    }
}

/// Parses and validates the document as a request would be, stopping short
/// of execution.
async fn validate(limits: Limits, document: &str) -> (Option<Cost>, Vec<String>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let schema = builder(limits).extension(Measure(seen.clone())).finish();
    let response = schema.execute(Request::new(document)).await;
    let errors = response.errors.into_iter().map(|e| e.message).collect();
    let seen = seen.lock().expect("measure");
    let cost = seen
        .depth
        .zip(seen.complexity)
        .map(|(depth, complexity)| Cost { complexity, depth });
    (cost, errors)
}

#[derive(Default)]
struct Seen {
    depth: Option<usize>,
    complexity: Option<usize>,
}

/// Records the depth and complexity, and never lets the operation run.
struct Measure(Arc<Mutex<Seen>>);

impl ExtensionFactory for Measure {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Measure(self.0.clone()))
    }
}

#[async_trait::async_trait]
impl Extension for Measure {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        self.0.lock().expect("measure").depth = Some(shape::measure(&doc).depth);
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        self.0.lock().expect("measure").complexity = Some(result.complexity);
        Ok(result)
    }

    async fn execute(
        &self,
        _ctx: &ExtensionContext<'_>,
        _operation_name: Option<&str>,
        _next: NextExecute<'_>,
    ) -> Response {
        Response::new(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::from(&crate::config::Config::default())
    }

    #[tokio::test]
    async fn a_valid_operation_has_a_cost_and_no_error() {
        let checked = check(limits(), "query Me { me { id email } }").await;
        assert!(checked.errors.is_empty(), "{checked:?}");
        let cost = checked.cost.unwrap();
        assert_eq!(cost.depth, 2);
        assert!(cost.complexity >= 3, "{cost:?}");
    }

    #[tokio::test]
    async fn an_unknown_field_is_an_error() {
        let checked = check(limits(), "query Me { me { colour } }").await;
        assert!(checked.cost.is_none());
        assert!(checked.errors[0].contains("colour"), "{checked:?}");
    }

    #[tokio::test]
    async fn an_operation_past_the_limits_has_its_cost_and_an_error() {
        let tight = Limits {
            max_complexity: 2,
            ..limits()
        };
        let checked = check(tight, "query Me { me { id email } }").await;
        assert!(checked.cost.is_some());
        assert_eq!(checked.errors.len(), 1, "{checked:?}");
    }
}
