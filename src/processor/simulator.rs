use async_trait::async_trait;
use secrecy::ExposeSecret;

use super::{Outcome, PaymentProcessor, ProcessorError, SettlementRequest};

/// A sandbox processor: card `4000000000000002` is declined, every other
/// instrument (e.g. `4242424242424242`) approved. The settlement delay is
/// applied by the settlement worker, which only asks once it has passed.
pub struct Simulator;

pub const DECLINED_CARD: &str = "4000000000000002";

#[async_trait]
impl PaymentProcessor for Simulator {
    async fn settle(&self, request: SettlementRequest) -> Result<Outcome, ProcessorError> {
        if request.instrument.expose_secret() == DECLINED_CARD {
            Ok(Outcome::Declined)
        } else {
            Ok(Outcome::Approved)
        }
    }
}
