//! API types. Each wraps a database row and decides what of it is shown;
//! the database schema and the API schema meet only here.

mod account;
mod address;
mod audit;
mod change;
mod money;
mod node;
mod payment_method;
mod payment_request;
mod session;
mod statement;
mod support_action;
mod transaction;
mod user;
mod wallet;

pub use account::{Account, AccountType};
pub use address::Address;
pub use audit::{AuditEntry, FraudCheck, FraudDecision};
pub use change::Change;
pub use money::Money;
pub use node::Node;
pub use payment_method::PaymentMethod;
pub use payment_request::{PaymentRequest, PaymentRequestDirection, PaymentRequestStatus};
pub use session::Session;
pub use statement::Statement;
pub use support_action::{SupportAction, SupportActionKind, SupportActionStatus};
pub use transaction::{Transaction, TransactionFilterInput, TransactionStatus, TransactionType};
pub use user::{KycStatus, Party, User, UserProfile, UserStatusValue};
pub use wallet::Wallet;
