//! What the postings of one operation did to balances, per currency and
//! kind of change: gathered as [`Locked::post`](super::postings::Locked::post)
//! changes wallets, carried out of the operation with its result, and
//! counted only once the operation has committed (a refused request, a
//! rolled-back or a retried attempt counts nothing).

use std::collections::BTreeMap;

use sea_orm::ActiveEnum;

pub use entity::balance_history::Operation;

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
            let labels = [
                ("currency", currency.to_owned()),
                ("operation", operation.to_value()),
            ];
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
