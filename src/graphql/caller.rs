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

/// The users a read of `owner`'s data is routed by (`db::reads`): the
/// caller, whose own writes it must see, and the owner.
pub fn readers(ctx: &Context<'_>, owner: uuid::Uuid) -> [uuid::Uuid; 2] {
    match caller(ctx) {
        Caller::User(p) => [p.user_id, owner],
        Caller::Anonymous | Caller::Rejected => [owner, owner],
    }
}

/// The authenticated user, or `UNAUTHENTICATED`.
pub fn require_user<'a>(ctx: &Context<'a>) -> ApiResult<&'a Principal> {
    match caller(ctx) {
        Caller::User(p) => Ok(p),
        Caller::Anonymous | Caller::Rejected => Err(ApiError::unauthenticated()),
    }
}
