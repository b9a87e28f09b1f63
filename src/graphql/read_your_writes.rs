//! After a mutation, the caller's reporting reads go to the primary until
//! the read replica has replayed it (see `db::reads`): every mutation's
//! caller is marked here, in one place, before the response leaves, so
//! that whatever the mutation wrote (money, a profile, a payment method, a
//! support action) is what the caller's next read shows.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::{
    Response, ServerResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery},
    parser::types::{ExecutableDocument, OperationType},
};

use crate::{auth::Caller, context::ApiContext};

pub struct MarkWriters;

impl ExtensionFactory for MarkWriters {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(MarkWritersOfRequest::default())
    }
}

#[derive(Default)]
struct MarkWritersOfRequest {
    mutation: AtomicBool,
}

#[async_trait::async_trait]
impl Extension for MarkWritersOfRequest {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        // Whichever of its operations runs: a document with a mutation in
        // it marks its caller (a mark too many only costs a primary read).
        let mutation = doc
            .operations
            .iter()
            .any(|(_, op)| op.node.ty == OperationType::Mutation);
        self.mutation.store(mutation, Ordering::Relaxed);
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        if self.mutation.load(Ordering::Relaxed)
            && let (Some(Caller::User(caller)), Some(app)) =
                (ctx.data_opt::<Caller>(), ctx.data_opt::<ApiContext>())
        {
            app.reads.wrote(&[caller.user_id]).await;
        }
        response
    }
}
