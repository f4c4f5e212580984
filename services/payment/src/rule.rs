//! The charging rule: deterministic, so that both outcomes can be demonstrated.

/// The largest amount a single charge may be, in cents (500.00).
pub const LIMIT_CENTS: u64 = 50_000;

/// What payment does with an amount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Charge it.
    Charge,
    /// Refuse it, for this reason.
    Refuse(String),
}

/// Charges up to [`LIMIT_CENTS`]; refuses more, and refuses nothing-to-charge.
pub fn decide(amount_cents: u64) -> Decision {
    if amount_cents == 0 {
        Decision::Refuse("nothing to charge".into())
    } else if amount_cents > LIMIT_CENTS {
        Decision::Refuse(format!(
            "amount {} exceeds the {} limit",
            money(amount_cents),
            money(LIMIT_CENTS)
        ))
    } else {
        Decision::Charge
    }
}

/// `12345` → `123.45`.
pub(crate) fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_up_to_the_limit_and_refuses_above_it() {
        assert_eq!(decide(1), Decision::Charge);
        assert_eq!(decide(LIMIT_CENTS), Decision::Charge);
        assert_eq!(
            decide(LIMIT_CENTS + 1),
            Decision::Refuse("amount 500.01 exceeds the 500.00 limit".into())
        );
        assert!(matches!(decide(0), Decision::Refuse(_)));
    }
}
