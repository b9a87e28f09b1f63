//! Two-factor enrolment: begin, confirm with a code, disable.

use async_graphql::{Context, Object, SimpleObject};
use secrecy::ExposeSecret;

use super::auth::client;
use crate::graphql::{
    caller::{app, require_user},
    errors::ApiResult,
};

/// A new TOTP secret, not in force until confirmed with a code from it.
#[derive(SimpleObject)]
pub struct TotpEnrollment {
    /// Base32, for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/...`, for a QR code.
    pub otpauth_uri: String,
}

/// One-time codes for when the authenticator is lost: shown only now.
#[derive(SimpleObject)]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

#[derive(Default)]
pub struct TwoFactorMutations;

#[Object]
impl TwoFactorMutations {
    /// Starts two-factor enrolment (again, if one was begun and not
    /// confirmed). With two-factor on already: `INVALID_STATE`.
    async fn begin_totp_enrollment(&self, ctx: &Context<'_>) -> ApiResult<TotpEnrollment> {
        let who = require_user(ctx)?;
        let (secret, otpauth_uri) = app(ctx).auth.begin_totp_enrollment(who).await?;
        Ok(TotpEnrollment {
            secret,
            otpauth_uri,
        })
    }

    /// Turns two-factor on with a current code of the new secret (a wrong
    /// one: `BAD_USER_INPUT` on `code`), and returns ten recovery codes.
    async fn confirm_totp_enrollment(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> ApiResult<RecoveryCodes> {
        let who = require_user(ctx)?;
        let codes = app(ctx).auth.confirm_totp_enrollment(who, &code).await?;
        Ok(RecoveryCodes {
            codes: codes.iter().map(|c| c.expose_secret().to_owned()).collect(),
        })
    }

    /// Turns two-factor off, given a current code or a recovery code.
    async fn disable_totp(&self, ctx: &Context<'_>, code: String) -> ApiResult<bool> {
        let who = require_user(ctx)?;
        app(ctx).auth.disable_totp(who, &code, &client(ctx)).await?;
        Ok(true)
    }
}
