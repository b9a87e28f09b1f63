//! The customer support console's domain: finding customers, changing a
//! customer's status or KYC standing, the audit of every support read, and
//! the one rule of who may see what (`sight`), which every read path asks.
//! Money actions (holds, reviews, refunds) are the ledger's; like these,
//! they take a `SupportAgent`, so the role is checked below the API too.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, Set,
    sea_query::{Expr, ExprTrait, Func},
};
use uuid::Uuid;

use crate::{
    audit::{self, AuditEvent},
    auth::{AuthError, Principal, Standings, SupportAgent, UserStatus},
    db,
    four_eyes::{self, ActionKind, ActionStatus, Approval, FourEyesError},
    ledger::{FEE_ACCOUNT_ID, Ledger, LedgerError, parse_reason},
    pagination::{Page, PageRequest, keyset},
    validation::InvalidInput,
};
use entity::{support_actions, user_profiles, users};

#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("not found")]
    NotFound,
    #[error("support agents cannot act on their own account")]
    OwnAccount,
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    /// The change is committed, but the cached standing could not be
    /// rewritten: trying again writes it.
    #[error("the change is saved, but sessions may not see it yet: {0}")]
    Standing(#[from] AuthError),
    /// The action waits for a second agent: nothing changed yet.
    #[error("a second support agent must approve this action")]
    ApprovalRequired { action_id: Uuid },
    #[error(transparent)]
    FourEyes(FourEyesError),
    /// An approved money action the ledger refused.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<FourEyesError> for SupportError {
    /// A database failure stays one, so that it is retried as any other.
    fn from(e: FourEyesError) -> Self {
        match e {
            FourEyesError::Db(e) => Self::Db(e),
            other => Self::FourEyes(other),
        }
    }
}

pub use entity::user_profiles::KycStatus;

/// How a reader sees an object they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    /// It is theirs: they own it or take part in it.
    Own,
    /// It is this customer's, and the reader is a support agent: the read
    /// is audited.
    Customer(SupportAgent, Uuid),
}

/// The system account that holds the fee wallets is nobody's customer.
pub fn is_customer(user_id: Uuid) -> bool {
    user_id != FEE_ACCOUNT_ID
}

/// Who may see an object that belongs to `owners` (a user's or wallet's
/// or account's owner; a transaction's sender and receiver): each of them,
/// and a support agent when one of them is a customer. `None`: the reader
/// may not see it, and is told it does not exist. Every path that reads an
/// object by its ID asks this.
pub fn sight(reader: &Principal, owners: &[Option<Uuid>]) -> Option<Sight> {
    let mut owners = owners.iter().flatten().copied();
    if owners.clone().any(|o| o == reader.user_id) {
        return Some(Sight::Own);
    }
    let agent = reader.as_support()?;
    owners
        .find(|&o| is_customer(o))
        .map(|customer| Sight::Customer(agent, customer))
}

#[derive(Clone)]
pub struct Support {
    db: DatabaseConnection,
    /// Where the search reads (the read replica, when it may).
    reads: db::Reads,
    standings: Standings,
    /// Runs the money actions a second agent approves.
    ledger: Ledger,
}

/// `%`, `_` and `\` match literally in a search.
fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

fn ilike(column: Expr, pattern: &str) -> Expr {
    Expr::expr(Func::lower(column)).like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\'))
}

impl Support {
    pub fn new(
        db: DatabaseConnection,
        reads: db::Reads,
        standings: Standings,
        ledger: Ledger,
    ) -> Self {
        Self {
            db,
            reads,
            standings,
            ledger,
        }
    }

    /// Customers whose email, name or phone contains `query`
    /// (case-insensitive), newest first. The search itself is audited.
    pub async fn search(
        &self,
        agent: SupportAgent,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<users::Model>, SupportError> {
        let mut select = users::Entity::find().filter(users::Column::UserId.ne(FEE_ACCOUNT_ID));
        if let Some(q) = query.map(str::trim).filter(|q| !q.is_empty()) {
            if q.chars().count() > 100 {
                return Err(InvalidInput::new("query", "must be at most 100 characters").into());
            }
            let pattern = like_pattern(&q.to_lowercase());
            // The same expression as the trigram index, so the index serves it.
            let full_name = Expr::cust("first_name || ' ' || last_name");
            select = select.filter(
                Condition::any()
                    .add(ilike(Expr::col(users::Column::Email), &pattern))
                    .add(ilike(full_name, &pattern))
                    .add(ilike(Expr::col(users::Column::Phone), &pattern)),
            );
        }
        // Routed by the agent: their own changes to a customer show at once.
        let page = self
            .reads
            .read(&[agent.user_id()], |db| {
                let select = select.clone();
                async move {
                    keyset(
                        &db,
                        select,
                        users::Column::CreatedAt,
                        users::Column::UserId,
                        page,
                    )
                    .await
                }
            })
            .await?;
        let event = AuditEvent {
            service: "support",
            event_type: "support.read",
            actor_id: Some(agent.user_id()),
            user_id: None,
            transaction_id: None,
            data: serde_json::json!({"what": "search", "query": query, "results": page.rows.iter().map(|u| u.user_id).collect::<Vec<_>>()}),
        };
        audit::record(&self.db, event).await?;
        Ok(page)
    }

    /// Records that an agent read part of a customer's data.
    pub async fn record_read(
        &self,
        agent: SupportAgent,
        customer: Uuid,
        what: &str,
    ) -> Result<(), SupportError> {
        self.record_read_of(agent, customer, serde_json::json!({"what": what}))
            .await
    }

    /// Records an agent's read of a customer's data that `data` describes
    /// (`what`, and whatever else names it).
    async fn record_read_of(
        &self,
        agent: SupportAgent,
        customer: Uuid,
        data: serde_json::Value,
    ) -> Result<(), SupportError> {
        let event = AuditEvent {
            service: "support",
            event_type: "support.read",
            actor_id: Some(agent.user_id()),
            user_id: Some(customer),
            transaction_id: None,
            data,
        };
        audit::record(&self.db, event).await?;
        Ok(())
    }

    /// Whether `reader` may see an object that belongs to `owners`
    /// (`sight`); an agent's read of a customer's `what` is recorded first.
    pub async fn may_see(
        &self,
        reader: &Principal,
        owners: &[Option<Uuid>],
        what: &str,
    ) -> Result<bool, SupportError> {
        self.may_see_as(reader, owners, serde_json::json!({"what": what}))
            .await
    }

    /// Whether `reader` may export a month's statement of a wallet of
    /// `owner`: its owner may; an agent's export of a customer's statement
    /// is recorded first, with the wallet and the month, since the file
    /// leaves the service.
    pub async fn may_export_statement(
        &self,
        reader: &Principal,
        owner: Uuid,
        wallet_id: Uuid,
        month: &str,
    ) -> Result<bool, SupportError> {
        let data =
            serde_json::json!({"what": "statement_export", "wallet_id": wallet_id, "month": month});
        self.may_see_as(reader, &[Some(owner)], data).await
    }

    async fn may_see_as(
        &self,
        reader: &Principal,
        owners: &[Option<Uuid>],
        data: serde_json::Value,
    ) -> Result<bool, SupportError> {
        match sight(reader, owners) {
            None => Ok(false),
            Some(Sight::Own) => Ok(true),
            Some(Sight::Customer(agent, customer)) => {
                self.record_read_of(agent, customer, data).await?;
                Ok(true)
            }
        }
    }

    pub async fn customer(
        &self,
        agent: SupportAgent,
        user_id: Uuid,
    ) -> Result<users::Model, SupportError> {
        let user = customer_row(&self.db, user_id).await?;
        self.record_read(agent, user_id, "user").await?;
        Ok(user)
    }

    /// ACTIVE, SUSPENDED (may log in and read, moves no money) or CLOSED
    /// (cannot log in; open sessions stop working). Closing an account
    /// waits for a second agent.
    pub async fn set_user_status(
        &self,
        agent: SupportAgent,
        user_id: Uuid,
        status: UserStatus,
        reason: &str,
    ) -> Result<users::Model, SupportError> {
        let reason = parse_reason("reason", reason)?;
        if user_id == agent.user_id() {
            return Err(SupportError::OwnAccount);
        }
        if status == UserStatus::Closed {
            let user = customer_row(&self.db, user_id).await?;
            if user.status != UserStatus::Closed {
                let action = four_eyes::request(
                    &self.db,
                    four_eyes::Request {
                        kind: ActionKind::CloseAccount,
                        requested_by: agent.user_id(),
                        customer_id: user_id,
                        reason: &reason,
                        payload: serde_json::json!({"user_id": user_id}),
                    },
                )
                .await?;
                return Err(SupportError::ApprovalRequired {
                    action_id: action.action_id,
                });
            }
        }
        self.change_user_status(agent, user_id, status, &reason, None)
            .await
    }

    async fn change_user_status(
        &self,
        agent: SupportAgent,
        user_id: Uuid,
        status: UserStatus,
        reason: &str,
        approval: Option<Approval>,
    ) -> Result<users::Model, SupportError> {
        let txn = db::begin_write(&self.db).await?;
        if let Some(approval) = approval {
            four_eyes::settle_in(&txn, approval, user_id).await?;
        }
        let user = customer_row(&txn, user_id).await?;
        let previous = user.status;
        let mut active = user.into_active_model();
        active.status = Set(status);
        active.updated_at = Set(chrono::Utc::now());
        let user = active.update(&txn).await?;
        audit::record(
            &txn,
            action(
                agent,
                user_id,
                "support.user_status_changed",
                serde_json::json!({"from": previous, "to": status, "reason": reason, "approval": approval.map(|a| a.audit_data())}),
            ),
        )
        .await?;
        txn.commit().await?;
        // Sessions learn of it through the cached standing, at once; a
        // cache that cannot take it now drops the stale standing once it
        // answers again (the change is committed either way).
        if let Err(e) = self.standings.refresh(&self.db, user_id).await {
            tracing::warn!(error = %e, "status changed; the cached standing follows when the cache answers");
        }
        Ok(user)
    }

    /// Approves another agent's pending action, which runs at once, as
    /// this agent, exactly once whichever instance approves it.
    pub async fn approve(
        &self,
        agent: SupportAgent,
        action_id: Uuid,
    ) -> Result<support_actions::Model, SupportError> {
        let action = four_eyes::decidable(&self.db, action_id, agent.user_id()).await?;
        match action.kind {
            ActionKind::Refund => {
                self.ledger.refund_approved(agent, &action).await?;
            }
            ActionKind::Hold => {
                self.ledger.hold_approved(agent, &action).await?;
            }
            ActionKind::CloseAccount => {
                let approval = Approval::of(&action, agent.user_id());
                let customer = action.customer_id;
                if customer == agent.user_id() {
                    return Err(SupportError::OwnAccount);
                }
                self.change_user_status(
                    agent,
                    customer,
                    UserStatus::Closed,
                    &action.reason,
                    Some(approval),
                )
                .await?;
            }
        }
        self.action(action_id).await
    }

    /// Rejects another agent's pending action; nothing runs.
    pub async fn reject(
        &self,
        agent: SupportAgent,
        action_id: Uuid,
        reason: &str,
    ) -> Result<support_actions::Model, SupportError> {
        let reason = parse_reason("reason", reason)?;
        Ok(four_eyes::reject(&self.db, action_id, agent.user_id(), &reason).await?)
    }

    pub async fn action(&self, action_id: Uuid) -> Result<support_actions::Model, SupportError> {
        four_eyes::get(&self.db, action_id)
            .await?
            .ok_or(SupportError::NotFound)
    }

    /// Support actions newest first, of one status when given.
    pub async fn actions(
        &self,
        status: Option<ActionStatus>,
        page: PageRequest,
    ) -> Result<Page<support_actions::Model>, SupportError> {
        Ok(four_eyes::list(&self.db, status, page).await?)
    }

    /// PENDING, VERIFIED or REJECTED; the KYC limit follows at once.
    pub async fn set_kyc_status(
        &self,
        agent: SupportAgent,
        user_id: Uuid,
        status: KycStatus,
        note: &str,
    ) -> Result<users::Model, SupportError> {
        let note = parse_reason("note", note)?;
        if user_id == agent.user_id() {
            return Err(SupportError::OwnAccount);
        }
        let txn = db::begin_write(&self.db).await?;
        let user = customer_row(&txn, user_id).await?;
        let profile = user_profiles::Entity::find()
            .filter(user_profiles::Column::UserId.eq(user_id))
            .one(&txn)
            .await?
            .ok_or(SupportError::NotFound)?;
        let previous = profile.kyc_status;
        let mut active = profile.into_active_model();
        active.kyc_status = Set(status);
        active.updated_at = Set(chrono::Utc::now());
        active.update(&txn).await?;
        audit::record(
            &txn,
            action(
                agent,
                user_id,
                "support.kyc_status_changed",
                serde_json::json!({"from": previous, "to": status, "note": note}),
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(user)
    }
}

/// A customer's row: the system account that holds the fee wallets is not
/// a customer, and is not found.
async fn customer_row<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<users::Model, SupportError> {
    users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .filter(|u| is_customer(u.user_id))
        .ok_or(SupportError::NotFound)
}

fn action(
    agent: SupportAgent,
    customer: Uuid,
    event_type: &'static str,
    data: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        service: "support",
        event_type,
        actor_id: Some(agent.user_id()),
        user_id: Some(customer),
        transaction_id: None,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(user_id: u128, roles: Vec<crate::auth::Role>) -> Principal {
        Principal {
            user_id: Uuid::from_u128(user_id),
            session_id: Uuid::nil(),
            status: UserStatus::Active,
            roles,
        }
    }

    #[test]
    fn owners_see_theirs_agents_see_customers_and_nobody_the_fee_account() {
        let customer = reader(1, vec![]);
        let agent = reader(2, vec![crate::auth::Role::Support]);
        let (one, three) = (Some(Uuid::from_u128(1)), Some(Uuid::from_u128(3)));
        assert_eq!(sight(&customer, &[three, one]), Some(Sight::Own));
        assert_eq!(sight(&customer, &[three, None]), None);
        match sight(&agent, &[None, three]) {
            Some(Sight::Customer(_, c)) => assert_eq!(c, Uuid::from_u128(3)),
            other => panic!("{other:?}"),
        }
        assert_eq!(sight(&agent, &[Some(FEE_ACCOUNT_ID), None]), None);
    }

    #[test]
    fn wildcards_in_a_search_match_literally() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
