use crate::graphql::scalars::Timestamp;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use secrecy::SecretString;

use crate::{
    auth::{ClientInfo, LoggedIn, NewUser, SecondFactorInput},
    graphql::{
        caller::{app, require_user},
        errors::ApiResult,
        ids::{self, Kind},
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
    /// With two-factor on: the code the authenticator app shows now.
    pub totp_code: Option<String>,
    /// With two-factor on, instead of `totpCode`: one of the recovery
    /// codes, each good once.
    pub recovery_code: Option<String>,
    /// A name for this device in the user's list of sessions ("Ada's phone").
    pub device_name: Option<String>,
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
            user: User::from(l.user),
        }
    }
}

/// Where the request comes from, as the transport put it in the request
/// data (none over a WebSocket).
pub(super) fn client(ctx: &Context<'_>) -> ClientInfo {
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
    /// With two-factor on, no code is `SECOND_FACTOR_REQUIRED`; a wrong,
    /// replayed or spent code is `UNAUTHENTICATED`. Wrong passwords and
    /// codes count per account and per address (`RATE_LIMITED`).
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> ApiResult<AuthPayload> {
        let password = SecretString::from(input.password);
        let client = ClientInfo {
            device_name: input
                .device_name
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty()),
            ..client(ctx)
        };
        let second = SecondFactorInput {
            totp_code: input.totp_code,
            recovery_code: input.recovery_code,
        };
        let logged_in = app(ctx)
            .auth
            .login(&input.email, password, &second, &client)
            .await?;
        Ok(logged_in.into())
    }

    /// Ends one of the caller's own sessions (`User.sessions`) at once, on
    /// every instance. Another user's session is `NOT_FOUND`.
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let who = require_user(ctx)?;
        let session_id = ids::decode("id", Kind::Session, &id)?;
        app(ctx).auth.revoke_session(who, session_id).await?;
        Ok(true)
    }

    /// Ends every session of the caller but this one.
    async fn logout_everywhere(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let who = require_user(ctx)?;
        app(ctx).auth.logout_everywhere(who).await?;
        Ok(true)
    }

    /// Ends this session at once: the token stops working on every instance.
    async fn logout(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let who = require_user(ctx)?;
        app(ctx).auth.logout(who).await?;
        Ok(true)
    }
}
