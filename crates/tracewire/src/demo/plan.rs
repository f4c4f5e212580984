//! The orders the demo places: deterministic, so the output is stable and both payment
//! paths run (every third order is above payment's limit and fails).

use tracewire_contracts::{LineItem, PlaceOrder};

fn line(sku: &str, quantity: u32) -> LineItem {
    LineItem {
        sku: sku.into(),
        quantity,
    }
}

/// The `n`th order (from 1).
pub(crate) fn order(n: u32) -> PlaceOrder {
    let (customer, items) = match n % 3 {
        1 => ("ada", vec![line("book", 2)]),
        2 => ("grace", vec![line("lamp", 1), line("book", 1)]),
        // 2 desks at 320.00 = 640.00: above payment's 500.00 limit
        _ => ("linus", vec![line("desk", 2)]),
    };
    PlaceOrder {
        customer: customer.into(),
        items,
    }
}

/// `2 book` / `1 lamp + 1 book`.
pub(crate) fn describe(order: &PlaceOrder) -> String {
    order
        .items
        .iter()
        .map(|i| format!("{} {}", i.quantity, i.sku))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// `64000` → `640.00`.
pub(crate) fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_third_order_is_above_the_payment_limit_and_all_are_valid() {
        let stock = tracewire_inventory_service::default_stock();
        let prices = |sku: &str| {
            stock
                .iter()
                .find(|s| s.sku == sku)
                .map_or(0, |s| s.unit_price_cents)
        };
        for n in 1..=9 {
            let order = order(n);
            assert_eq!(order.validate(), Ok(()));
            let total: u64 = order
                .items
                .iter()
                .map(|i| prices(&i.sku) * u64::from(i.quantity))
                .sum();
            assert_eq!(
                total > tracewire_payment_service::LIMIT_CENTS,
                n % 3 == 0,
                "order {n}: {total}"
            );
        }
    }
}
