//! Two-factor enrolment (begin, confirm with a code, disable) and the
//! step-up a large payment needs.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use secrecy::{ExposeSecret, SecretString};

use super::auth::client;
use crate::graphql::{
    caller::{app, require_user},
    errors::ApiResult,
    scalars::Timestamp,
};

#[derive(InputObject)]
pub struct ConfirmIdentityInput {
    pub password: String,
    /// Required when two-factor is on.
    pub totp_code: Option<String>,
}

/// The session may make large payments until `validUntil`.
#[derive(SimpleObject)]
pub struct StepUp {
    pub valid_until: Timestamp,
}

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

    /// Confirms the caller's identity again (password; with two-factor on,
    /// a current code too) so that this session may make payments at or
    /// above `STEP_UP_AMOUNT` for `STEP_UP_TTL_SECS`. A wrong password or
    /// code is `BAD_USER_INPUT` on its field.
    async fn confirm_identity(
        &self,
        ctx: &Context<'_>,
        input: ConfirmIdentityInput,
    ) -> ApiResult<StepUp> {
        let who = require_user(ctx)?;
        let until = app(ctx)
            .auth
            .confirm_identity(
                who,
                SecretString::from(input.password),
                input.totp_code.as_deref(),
                &client(ctx),
            )
            .await?;
        Ok(StepUp {
            valid_until: until.into(),
        })
    }

    /// Turns two-factor off, given a current code or a recovery code.
    async fn disable_totp(&self, ctx: &Context<'_>, code: String) -> ApiResult<bool> {
        let who = require_user(ctx)?;
        app(ctx).auth.disable_totp(who, &code, &client(ctx)).await?;
        Ok(true)
    }
}
