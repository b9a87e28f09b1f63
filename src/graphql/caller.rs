//! Reading the caller from a resolver's context.

use async_graphql::Context;

use super::errors::{ApiError, ApiResult};
use crate::{
    auth::{Caller, Principal},
    context::ApiContext,
};

pub fn app<'a>(ctx: &Context<'a>) -> &'a ApiContext {
    ctx.data_unchecked::<ApiContext>()
}

pub fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    ctx.data_unchecked::<Caller>()
}

/// The authenticated user, or `UNAUTHENTICATED`.
pub fn require_user<'a>(ctx: &Context<'a>) -> ApiResult<&'a Principal> {
    match caller(ctx) {
        Caller::User(p) => Ok(p),
        Caller::Anonymous | Caller::Rejected => Err(ApiError::unauthenticated()),
    }
}
