//! What the postings of one operation did to balances, per currency and
//! kind of change: gathered as [`Locked::post`](super::postings::Locked::post)
//! changes wallets, carried out of the operation with its result, and
//! counted only once the operation has committed (a refused request, a
//! rolled-back or a retried attempt counts nothing).

use std::collections::BTreeMap;

/// What a posting was. Its name is the `operation_type` of the wallet's
/// `balance_history` row and the `operation` label of the balance-change
/// metrics, so it never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// A settled deposit, credited (net of its fee).
    Deposit,
    /// A settled withdrawal, paid out of the frozen part it was reserved in.
    Withdrawal,
    /// A transfer's amount and fee, taken from the sender.
    TransferOut,
    /// A transfer's amount, given to the recipient.
    TransferIn,
    /// A fee, credited to the fee account.
    Fee,
    /// Available to frozen: a transfer held for review, a support hold.
    Hold,
    /// Frozen back to available: a rejected review, a declined
    /// withdrawal, a support release.
    Release,
    /// Available to frozen for a withdrawal on its way to the processor.
    Reserve,
    /// A refund's amount, taken back from the transfer's recipient.
    RefundOut,
    /// A refund's amount, given back to the transfer's sender.
    RefundIn,
}

impl Operation {
    pub const ALL: [Self; 10] = [
        Self::Deposit,
        Self::Withdrawal,
        Self::TransferOut,
        Self::TransferIn,
        Self::Fee,
        Self::Hold,
        Self::Release,
        Self::Reserve,
        Self::RefundOut,
        Self::RefundIn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deposit => "deposit",
            Self::Withdrawal => "withdrawal",
            Self::TransferOut => "transfer_out",
            Self::TransferIn => "transfer_in",
            Self::Fee => "fee",
            Self::Hold => "hold",
            Self::Release => "release",
            Self::Reserve => "reserve",
            Self::RefundOut => "refund_out",
            Self::RefundIn => "refund_in",
        }
    }
}

/// Per currency and operation: how many postings, and how many minor units
/// they moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BalanceChanges(BTreeMap<(&'static str, Operation), (u64, u64)>);

impl BalanceChanges {
    /// Notes one posting to a wallet in `currency` that changed its
    /// available part by `delta_available` and its frozen part by
    /// `delta_frozen`. The amount counted is the largest of the changes to
    /// available, frozen and their sum, as an absolute number: a credit or
    /// debit counts what the balance moved; a hold, reserve or release,
    /// which leaves the balance as it was, counts what moved between its
    /// parts.
    pub fn add(
        &mut self,
        currency: &'static str,
        operation: Operation,
        delta_available: i64,
        delta_frozen: i64,
    ) {
        let moved = [
            delta_available,
            delta_frozen,
            delta_available.saturating_add(delta_frozen),
        ]
        .into_iter()
        .map(i64::unsigned_abs)
        .max()
        .unwrap_or(0);
        let entry = self.0.entry((currency, operation)).or_default();
        entry.0 += 1;
        entry.1 = entry.1.saturating_add(moved);
    }

    /// Counts these changes in `paygraph_balance_changes_total` and
    /// `paygraph_balance_change_minor_units_total`. Called once, after the
    /// commit that made them.
    pub fn record(&self) {
        for (&(currency, operation), &(count, moved)) in &self.0 {
            let labels = [("currency", currency), ("operation", operation.as_str())];
            metrics::counter!("paygraph_balance_changes_total", &labels).increment(count);
            metrics::counter!("paygraph_balance_change_minor_units_total", &labels)
                .increment(moved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BalanceChanges, Operation};

    #[test]
    fn each_posting_counts_what_it_moved_as_an_absolute_amount() {
        let mut changes = BalanceChanges::default();
        changes.add("USD", Operation::TransferOut, -505, 0);
        changes.add("USD", Operation::TransferOut, -100, 0);
        changes.add("USD", Operation::Hold, -700, 700);
        changes.add("USD", Operation::Withdrawal, 0, -4025);
        changes.add("EUR", Operation::TransferOut, -1, 0);
        let mut expected = BalanceChanges::default();
        expected.0.insert(("USD", Operation::TransferOut), (2, 605));
        expected.0.insert(("USD", Operation::Hold), (1, 700));
        expected.0.insert(("USD", Operation::Withdrawal), (1, 4025));
        expected.0.insert(("EUR", Operation::TransferOut), (1, 1));
        assert_eq!(changes, expected);
    }
}
