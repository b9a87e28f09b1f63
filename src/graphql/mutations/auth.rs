use crate::graphql::scalars::Timestamp;
use async_graphql::{Context, InputObject, Object, SimpleObject};
use secrecy::SecretString;

use crate::{
    auth::{ClientInfo, LoggedIn, NewUser},
    graphql::{
        caller::{app, require_user},
        errors::ApiResult,
        types::User,
    },
};

#[derive(InputObject)]
pub struct RegisterInput {
    pub email: String,
    /// At least 10 characters, and not your email address.
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    /// International format, e.g. "+14155550100".
    pub phone: Option<String>,
}

#[derive(InputObject)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
}

#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: Timestamp,
    pub user: User,
}

impl From<LoggedIn> for AuthPayload {
    fn from(l: LoggedIn) -> Self {
        Self {
            token: l.token,
            expires_at: l.expires_at.into(),
            user: User(l.user),
        }
    }
}

/// Where the request comes from, as the transport put it in the request
/// data (none over a WebSocket).
fn client(ctx: &Context<'_>) -> ClientInfo {
    ctx.data_opt::<ClientInfo>().cloned().unwrap_or_default()
}

#[derive(Default)]
pub struct AuthMutations;

#[Object]
impl AuthMutations {
    /// Creates an account and logs it in.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> ApiResult<AuthPayload> {
        let new = NewUser::parse(
            &input.email,
            SecretString::from(input.password),
            &input.first_name,
            &input.last_name,
            input.phone.as_deref(),
        )?;
        Ok(app(ctx).auth.register(new, &client(ctx)).await?.into())
    }

    /// Opens a session. Wrong email and wrong password give the same error.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> ApiResult<AuthPayload> {
        let password = SecretString::from(input.password);
        let logged_in = app(ctx)
            .auth
            .login(&input.email, password, &client(ctx))
            .await?;
        Ok(logged_in.into())
    }

    /// Ends this session at once: the token stops working on every instance.
    async fn logout(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let who = require_user(ctx)?;
        app(ctx).auth.logout(who).await?;
        Ok(true)
    }
}
