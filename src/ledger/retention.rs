//! The idempotency keys' retention: a key answers with its first result for
//! `IDEMPOTENCY_RETENTION_DAYS`, and every instance purges older keys in the
//! background, a small batch per statement. Instances purging at once
//! delete disjoint or already-deleted rows: nothing to coordinate.

use std::time::Duration;

use chrono::Utc;

use super::{Ledger, LedgerError, idempotency, payment_requests};

impl Ledger {
    /// Purges every `poll` until `stop` resolves.
    pub async fn run_idempotency_purge(
        &self,
        poll: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.purge_idempotency_keys().await {
                tracing::warn!(error = %e, "idempotency key purge failed; will retry");
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// One pass: batches until one deletes fewer than a batch. Returns how
    /// many keys went.
    pub async fn purge_idempotency_keys(&self) -> Result<u64, LedgerError> {
        let cutoff = Utc::now() - self.settings.idempotency_retention;
        let batch = self.settings.idempotency_purge_batch;
        let mut purged = 0;
        loop {
            let n = idempotency::purge_before(&self.db, cutoff, batch).await?
                + payment_requests::forget_keys_before(&self.db, cutoff, batch).await?;
            purged += n;
            if n < batch {
                if purged > 0 {
                    tracing::info!(purged, "idempotency keys past their retention purged");
                }
                return Ok(purged);
            }
        }
    }
}
