//! The payment processor port: how money enters from a card or bank and
//! leaves to a bank account. The ledger asks it for an outcome; the
//! built-in simulator is the default.

mod simulator;

use async_trait::async_trait;
use secrecy::SecretString;
use uuid::Uuid;

pub use simulator::Simulator;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    Declined,
}

/// What the processor is asked to settle. The instrument is the decrypted
/// card or account number; it never leaves this call.
pub struct SettlementRequest {
    /// Processors deduplicate by this reference: asking twice for the same
    /// transaction gets the same outcome and moves money once.
    pub reference: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub instrument: SecretString,
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Pull from the customer's card or bank into their wallet.
    PayIn,
    /// Push from the wallet out to the customer's bank account.
    PayOut,
}

#[derive(Debug, thiserror::Error)]
#[error("payment processor unavailable: {0}")]
pub struct ProcessorError(pub String);

#[async_trait]
pub trait PaymentProcessor: Send + Sync {
    async fn settle(&self, request: SettlementRequest) -> Result<Outcome, ProcessorError>;
}
