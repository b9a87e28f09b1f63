//! Reading the caller from a resolver's context.

use async_graphql::{Context, Request, extensions::ExtensionContext};

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

/// The caller of a request an extension is preparing (before its data
/// reaches the context): over HTTP the request's data, on a WebSocket the
/// connection's; `None` for a tool that only measures documents.
pub fn caller_of_request<'a>(
    ctx: &'a ExtensionContext<'_>,
    request: &'a Request,
) -> Option<&'a Caller> {
    request
        .data
        .get(&std::any::TypeId::of::<Caller>())
        .and_then(|d| d.downcast_ref::<Caller>())
        .or_else(|| ctx.data_opt::<Caller>())
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
