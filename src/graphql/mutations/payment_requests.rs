//! Payment requests: ask for money, pay, decline, cancel.

use async_graphql::{Context, ID, InputObject, Object};

use crate::{
    auth::Email,
    graphql::{
        caller::{app, require_user},
        errors::ApiResult,
        ids::{self, Kind},
        mutations::money::amount_in,
        scalars::{CurrencyCode, Decimal},
        types::PaymentRequest,
    },
    ledger::{IdempotencyKey, PayingSession, PaymentRequestInput, payment_requests::parse_text},
    validation::InvalidInput,
};

#[derive(InputObject)]
pub struct RequestPaymentInput {
    /// The user asked to pay.
    pub payer_email: String,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    /// Shown to the payer, and the description of the transfer that pays it.
    pub note: Option<String>,
    /// 1 to 255 characters; the same key with the same input returns the original request.
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct PayPaymentRequestInput {
    pub payment_request_id: ID,
    /// 1 to 255 characters; the same key again returns the request and pays nothing again.
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct DeclinePaymentRequestInput {
    pub payment_request_id: ID,
    /// Shown to the requester.
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct CancelPaymentRequestInput {
    pub payment_request_id: ID,
}

#[derive(Default)]
pub struct PaymentRequestMutations;

#[Object]
impl PaymentRequestMutations {
    /// Asks another user, by email, for an amount. The request is `PENDING`
    /// until the payer pays or declines it, the requester cancels it, or it
    /// expires. A payer who declined three of the caller's requests within
    /// a day receives no more from them until then (`RATE_LIMITED`).
    async fn request_payment(
        &self,
        ctx: &Context<'_>,
        input: RequestPaymentInput,
    ) -> ApiResult<PaymentRequest> {
        let who = require_user(ctx)?;
        let amount = amount_in(&input.amount, &input.currency)?;
        let payer_email = Email::parse(&input.payer_email)
            .map_err(|e| InvalidInput::new("payerEmail", e.message))?;
        let req = PaymentRequestInput {
            requester_id: who.user_id,
            payer_email,
            amount,
            note: parse_text("note", input.note)?,
            idempotency_key: IdempotencyKey::parse(&input.idempotency_key)?,
        };
        Ok(PaymentRequest(app(ctx).ledger.request_payment(&req).await?))
    }

    /// Pays a request the caller was asked to pay: a transfer of exactly
    /// the requested amount to the requester, with every rule of
    /// `transfer`. A request is paid at most once; one that is not
    /// `PENDING` is `INVALID_STATE`.
    async fn pay_payment_request(
        &self,
        ctx: &Context<'_>,
        input: PayPaymentRequestInput,
    ) -> ApiResult<PaymentRequest> {
        let who = require_user(ctx)?;
        let id = request_id(&input.payment_request_id)?;
        let key = IdempotencyKey::parse(&input.idempotency_key)?;
        Ok(PaymentRequest(
            app(ctx)
                .ledger
                .pay_payment_request(who.user_id, PayingSession(who.session_id), id, key)
                .await?,
        ))
    }

    /// The payer declines a `PENDING` request.
    async fn decline_payment_request(
        &self,
        ctx: &Context<'_>,
        input: DeclinePaymentRequestInput,
    ) -> ApiResult<PaymentRequest> {
        let who = require_user(ctx)?;
        let id = request_id(&input.payment_request_id)?;
        let reason = parse_text("reason", input.reason)?;
        Ok(PaymentRequest(
            app(ctx)
                .ledger
                .decline_payment_request(who.user_id, id, reason)
                .await?,
        ))
    }

    /// The requester withdraws a `PENDING` request.
    async fn cancel_payment_request(
        &self,
        ctx: &Context<'_>,
        input: CancelPaymentRequestInput,
    ) -> ApiResult<PaymentRequest> {
        let who = require_user(ctx)?;
        let id = request_id(&input.payment_request_id)?;
        Ok(PaymentRequest(
            app(ctx)
                .ledger
                .cancel_payment_request(who.user_id, id)
                .await?,
        ))
    }
}

/// The request an input's `paymentRequestId` names.
fn request_id(id: &ID) -> Result<uuid::Uuid, InvalidInput> {
    ids::decode("paymentRequestId", Kind::PaymentRequest, id)
}
