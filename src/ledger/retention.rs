//! What the ledger keeps for a while only: idempotency keys answer with
//! their first result for `IDEMPOTENCY_RETENTION_DAYS`, and the change feed
//! keeps a change for `CHANGE_FEED_RETENTION_SECS`. Every instance purges
//! older rows in the background, a small batch per statement. Instances
//! purging at once delete disjoint or already-deleted rows: nothing to
//! coordinate.

use std::time::Duration;

use chrono::Utc;

use super::{Ledger, LedgerError, feed, idempotency, payment_requests};

impl Ledger {
    /// Purges every `poll` until `stop` resolves.
    pub async fn run_purges(&self, poll: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.purge_idempotency_keys().await {
                tracing::warn!(error = %e, "idempotency key purge failed; will retry");
            }
            if let Err(e) = self.purge_change_feed().await {
                tracing::warn!(error = %e, "change feed purge failed; will retry");
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

    /// One pass over the change feed, as [`Self::purge_idempotency_keys`]
    /// does it. Returns how many changes went.
    pub async fn purge_change_feed(&self) -> Result<u64, LedgerError> {
        let cutoff = Utc::now() - self.settings.change_feed_retention;
        let batch = self.settings.idempotency_purge_batch;
        let mut purged = 0;
        loop {
            let n = feed::purge_before(&self.db, cutoff, batch).await?;
            purged += n;
            if n < batch {
                if purged > 0 {
                    tracing::info!(purged, "changes past the feed's retention purged");
                }
                return Ok(purged);
            }
        }
    }
}
