//! The rules: each that fires adds its weight to the score; at or above
//! the review score the payment is held for a person to look at.

use crate::config::FraudSettings;

use super::Decision;

/// What the ledger knows about a payment when it asks.
#[derive(Debug, Clone, Copy)]
pub struct Signals {
    pub amount_minor: i64,
    /// The review threshold for this currency, if one is configured.
    pub review_amount_minor: Option<i64>,
    /// Outgoing payments by this user within the velocity window.
    pub recent_outgoing: u64,
    /// True when the sender never paid this recipient before.
    pub new_recipient: bool,
    pub account_age_days: i64,
}

pub struct Verdict {
    pub score: u32,
    pub rules_fired: Vec<String>,
    pub decision: Decision,
}

pub fn assess(settings: &FraudSettings, s: Signals) -> Verdict {
    let mut score = 0u32;
    let mut fired = Vec::new();
    let mut rule = |hit: bool, name: &str, weight: u32| {
        if hit {
            score = score.saturating_add(weight);
            fired.push(name.to_owned());
        }
    };
    rule(
        s.review_amount_minor.is_some_and(|t| s.amount_minor >= t),
        "large_amount",
        settings.weight_amount,
    );
    rule(
        s.recent_outgoing >= settings.velocity_max,
        "velocity",
        settings.weight_velocity,
    );
    rule(
        s.new_recipient,
        "new_recipient",
        settings.weight_new_recipient,
    );
    rule(
        s.account_age_days < settings.new_account_days,
        "new_account",
        settings.weight_new_account,
    );
    let score = score.min(100);
    Verdict {
        decision: if score >= settings.review_score {
            Decision::Review
        } else {
            Decision::Allow
        },
        score,
        rules_fired: fired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> FraudSettings {
        FraudSettings::default()
    }

    fn ordinary() -> Signals {
        Signals {
            amount_minor: 1000,
            review_amount_minor: Some(500_000),
            recent_outgoing: 0,
            new_recipient: false,
            account_age_days: 30,
        }
    }

    #[test]
    fn an_ordinary_payment_passes_with_score_zero() {
        let v = assess(&settings(), ordinary());
        assert_eq!((v.score, v.decision), (0, Decision::Allow));
    }

    #[test]
    fn a_large_amount_is_held() {
        let v = assess(
            &settings(),
            Signals {
                amount_minor: 500_000,
                ..ordinary()
            },
        );
        assert_eq!(v.decision, Decision::Review);
        assert_eq!(v.rules_fired, ["large_amount"]);
    }

    #[test]
    fn weak_signals_alone_do_not_hold() {
        let v = assess(
            &settings(),
            Signals {
                new_recipient: true,
                account_age_days: 0,
                ..ordinary()
            },
        );
        assert_eq!((v.score, v.decision), (40, Decision::Allow));
    }
}
