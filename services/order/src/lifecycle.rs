//! How events move an order through its states (see [`OrderStatus`]): a pure function,
//! so redelivered or reordered events are easy to reason about and to test.

use tracewire_contracts::OrderStatus;

/// Something that happened to an order elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happening {
    /// Inventory committed the held stock (`inventory.reserved`).
    StockCommitted,
    /// Payment took the money (`payment.completed`).
    Paid,
    /// Payment refused the charge (`payment.failed`), for this reason.
    PaymentRefused(String),
    /// Inventory returned the stock (`inventory.released`).
    StockReleased,
}

/// What a happening does to an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The new status.
    pub status: OrderStatus,
    /// Why, when the order fails.
    pub reason: Option<String>,
    /// Whether to publish `order.cancelled` (so inventory returns the stock).
    pub cancel: bool,
}

fn to(status: OrderStatus) -> Option<Step> {
    Some(Step {
        status,
        reason: None,
        cancel: false,
    })
}

/// The step `happening` causes in an order that is `status`; `None` when it changes
/// nothing (a repeat, or news that no longer matters, such as a stock commitment
/// arriving after the payment failed).
pub fn next(status: OrderStatus, happening: &Happening) -> Option<Step> {
    use OrderStatus as S;
    match (status, happening) {
        (S::Pending, Happening::StockCommitted) => to(S::Reserved),
        (S::Paid, Happening::StockCommitted) => to(S::Confirmed),
        (S::Pending, Happening::Paid) => to(S::Paid),
        (S::Reserved, Happening::Paid) => to(S::Confirmed),
        (S::Pending | S::Reserved, Happening::PaymentRefused(reason)) => Some(Step {
            status: S::PaymentFailed,
            reason: Some(reason.clone()),
            cancel: true,
        }),
        (S::PaymentFailed, Happening::StockReleased) => to(S::Cancelled),
        _ => None,
    }
}

/// How far along its life an order in `status` is: every step [`next`] takes goes
/// strictly forward, so a status at or below what a client has already seen is news
/// that arrived late (the status stream skips it).
pub const fn progress(status: OrderStatus) -> u8 {
    use OrderStatus as S;
    match status {
        S::Pending => 0,
        S::Reserved | S::Paid | S::Rejected => 1,
        S::PaymentFailed | S::Confirmed => 2,
        S::Cancelled => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus as S;

    fn run(happenings: &[Happening]) -> (S, usize) {
        let mut status = S::Pending;
        let mut cancels = 0;
        for h in happenings {
            if let Some(step) = next(status, h) {
                status = step.status;
                cancels += usize::from(step.cancel);
            }
        }
        (status, cancels)
    }

    #[test]
    fn stock_and_payment_confirm_in_either_order_and_repeats_change_nothing() {
        use Happening::*;
        assert_eq!(run(&[StockCommitted, Paid]), (S::Confirmed, 0));
        assert_eq!(run(&[Paid, StockCommitted]), (S::Confirmed, 0));
        assert_eq!(
            run(&[Paid, Paid, StockCommitted, StockCommitted, Paid]),
            (S::Confirmed, 0)
        );
    }

    #[test]
    fn a_refused_payment_cancels_once_whatever_inventory_did() {
        let refused = Happening::PaymentRefused("too much".into());
        use Happening::*;
        let paths: [&[Happening]; 3] = [
            &[refused.clone(), StockReleased],
            &[StockCommitted, refused.clone(), StockReleased],
            &[
                refused.clone(),
                StockCommitted,
                refused.clone(),
                StockReleased,
                StockReleased,
            ],
        ];
        for path in paths {
            assert_eq!(run(path), (S::Cancelled, 1), "{path:?}");
        }
    }

    #[test]
    fn every_step_goes_forward() {
        let all = [
            Happening::StockCommitted,
            Happening::Paid,
            Happening::PaymentRefused("x".into()),
            Happening::StockReleased,
        ];
        for status in S::ALL {
            for h in &all {
                if let Some(step) = next(status, h) {
                    assert!(
                        progress(step.status) > progress(status),
                        "{status} + {h:?} -> {}",
                        step.status
                    );
                }
            }
        }
        // Placing: pending, or rejected when the stock cannot be held.
        assert!(progress(S::Rejected) > progress(S::Pending));
    }

    #[test]
    fn final_states_stay_final() {
        let all = [
            Happening::StockCommitted,
            Happening::Paid,
            Happening::PaymentRefused("x".into()),
            Happening::StockReleased,
        ];
        for status in S::ALL.into_iter().filter(|s| s.is_final()) {
            for h in &all {
                assert_eq!(next(status, h), None, "{status} + {h:?}");
            }
        }
    }
}
