//! Validation of [`PlaceOrder`]: every problem is reported, each with its field.

use serde::{Deserialize, Serialize};

use crate::PlaceOrder;

/// Most lines one order may have.
pub const MAX_LINES: usize = 20;
/// Most units of one SKU per order.
pub const MAX_QUANTITY: u32 = 1_000;
/// Longest customer name or SKU, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// One invalid field and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field, as a JSON path (`items[1].quantity`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn check_name(errors: &mut Vec<FieldError>, field: String, value: &str) {
    let reason = if value.trim().is_empty() {
        "must not be empty".to_owned()
    } else if value.len() > MAX_NAME_LEN {
        format!("must be at most {MAX_NAME_LEN} bytes")
    } else if value.chars().any(char::is_control) {
        "must not contain control characters".to_owned()
    } else {
        return;
    };
    errors.push(FieldError { field, reason });
}

impl PlaceOrder {
    /// Checks the order; on failure every invalid field is listed.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_name(&mut errors, "customer".into(), &self.customer);
        if self.items.is_empty() {
            errors.push(FieldError {
                field: "items".into(),
                reason: "must have at least one line".into(),
            });
        }
        if self.items.len() > MAX_LINES {
            errors.push(FieldError {
                field: "items".into(),
                reason: format!("must have at most {MAX_LINES} lines"),
            });
        }
        for (i, item) in self.items.iter().enumerate() {
            check_name(&mut errors, format!("items[{i}].sku"), &item.sku);
            if !(1..=MAX_QUANTITY).contains(&item.quantity) {
                errors.push(FieldError {
                    field: format!("items[{i}].quantity"),
                    reason: format!("must be between 1 and {MAX_QUANTITY}"),
                });
            }
            if self.items[..i]
                .iter()
                .any(|earlier| earlier.sku == item.sku)
            {
                errors.push(FieldError {
                    field: format!("items[{i}].sku"),
                    reason: format!("{} appears twice: one line per SKU", item.sku),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LineItem;

    fn line(sku: &str, quantity: u32) -> LineItem {
        LineItem {
            sku: sku.into(),
            quantity,
        }
    }

    #[test]
    fn a_plain_order_is_valid() {
        let order = PlaceOrder {
            customer: "ada".into(),
            items: vec![line("book", 1), line("lamp", 3)],
        };
        assert_eq!(order.validate(), Ok(()));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let cases: [(PlaceOrder, &[&str], &str); 4] = [
            (
                PlaceOrder {
                    customer: " ".into(),
                    items: vec![],
                },
                &["customer", "items"],
                "blank customer and no lines",
            ),
            (
                PlaceOrder {
                    customer: "ada".into(),
                    items: vec![line("book", 0), line("", 2)],
                },
                &["items[0].quantity", "items[1].sku"],
                "zero quantity and empty sku",
            ),
            (
                PlaceOrder {
                    customer: "ada".into(),
                    items: vec![line("book", 1), line("book", 2)],
                },
                &["items[1].sku"],
                "duplicate sku",
            ),
            (
                PlaceOrder {
                    customer: "x".repeat(65),
                    items: vec![line("book", 1001)],
                },
                &["customer", "items[0].quantity"],
                "too long and too many",
            ),
        ];
        for (order, fields, why) in cases {
            let errors = order.validate().expect_err(why);
            let got: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(got, fields, "{why}");
        }
    }
}
