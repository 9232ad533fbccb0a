//! Kubernetes resource quantities (`1Gi`, `500m`, `1.5`, `2e3`) as the
//! objects a queueing hint reads hold them (e.g. a CSIStorageCapacity's
//! `capacity`): exact, in billionths, so that comparisons agree with
//! upstream's `resource.Quantity.Cmp`.
//!
//! ```
//! use kws_plugin_sdk::quantity::Quantity;
//! assert_eq!(Quantity::parse("1Ki").map(Quantity::value), Some(1024));
//! ```

/// A quantity in units of 10^-9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(pub i128);

const NANO: i128 = 1_000_000_000;

impl Quantity {
    /// Parses a quantity's canonical or written form; `None` when it is
    /// not one.
    pub fn parse(text: &str) -> Option<Quantity> {
        let text = text.trim();
        let (sign, body) = match text.as_bytes().first()? {
            b'-' => (-1, &text[1..]),
            b'+' => (1, &text[1..]),
            _ => (1, text),
        };
        let digits_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, suffix) = body.split_at(digits_end);
        if number.is_empty() || number == "." {
            return None;
        }
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if fraction.contains('.') {
            return None;
        }
        let mut value: i128 = 0;
        for c in whole.chars().chain(fraction.chars()) {
            value = value
                .checked_mul(10)?
                .checked_add(i128::from(c.to_digit(10)?))?;
        }
        // value * 10^-len(fraction), in nano units.
        let mut scale: i32 = 9 - i32::try_from(fraction.len()).ok()?;
        let multiplier: i128 = match suffix {
            "" => 1,
            "n" => {
                scale -= 9;
                1
            }
            "u" => {
                scale -= 6;
                1
            }
            "m" => {
                scale -= 3;
                1
            }
            "k" => 1_000,
            "M" => 1_000_000,
            "G" => 1_000_000_000,
            "T" => 1_000_000_000_000,
            "P" => 1_000_000_000_000_000,
            "E" => 1_000_000_000_000_000_000,
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            "Ti" => 1 << 40,
            "Pi" => 1 << 50,
            "Ei" => 1 << 60,
            exponent if exponent.starts_with(['e', 'E']) => {
                scale += exponent[1..].parse::<i32>().ok()?;
                1
            }
            _ => return None,
        };
        value = value.checked_mul(multiplier)?;
        // Below a nano unit rounds up, as upstream rounds to its scale.
        let value = if scale >= 0 {
            value.checked_mul(10i128.checked_pow(scale.unsigned_abs())?)?
        } else {
            let divisor = 10i128.checked_pow(scale.unsigned_abs())?;
            (value + divisor - 1) / divisor
        };
        Some(Quantity(sign * value))
    }

    /// The whole value, rounded up as upstream's `Value()`.
    pub fn value(self) -> i128 {
        (self.0 + NANO - 1).div_euclid(NANO)
    }
}

#[cfg(test)]
mod tests {
    use super::Quantity;

    #[test]
    fn parses_suffixes_and_compares_exactly() {
        assert_eq!(Quantity::parse("1Gi"), Quantity::parse("1073741824"));
        assert_eq!(Quantity::parse("1k"), Quantity::parse("1000"));
        assert_eq!(Quantity::parse("500m").unwrap().0, 500_000_000);
        assert_eq!(Quantity::parse("1.5").unwrap().0, 1_500_000_000);
        assert_eq!(Quantity::parse("2e3"), Quantity::parse("2k"));
        assert!(Quantity::parse("80Gi") > Quantity::parse("40Gi"));
        assert!(Quantity::parse("1Gi") > Quantity::parse("1G"));
        assert_eq!(Quantity::parse("-1").unwrap().0, -1_000_000_000);
        assert_eq!(Quantity::parse("1.5").unwrap().value(), 2);
        assert_eq!(Quantity::parse("abc"), None);
        assert_eq!(Quantity::parse("1Qi"), None);
    }
}
