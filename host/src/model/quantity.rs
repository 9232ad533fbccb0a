//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`, `128974848`), read
//! the way the apiserver reads them.
//!
//! The apiserver keeps quantities exact and rounds up when a whole number is
//! asked for: `MilliValue()` of `0.0001` is 1, `Value()` of `1.5` is 2. The
//! scheduler works in those rounded numbers, so do we.

use std::fmt;

/// Why a quantity string was refused. The text matches the apiserver's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError(String);

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QuantityError {}

/// The regular expression the apiserver names in its error message.
const FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// A parsed quantity: `digits × 10^exp10 × 2^exp2`, with its sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    negative: bool,
    digits: u128,
    exp10: i32,
    exp2: u32,
}

impl Quantity {
    /// Parses a quantity in any spelling the apiserver accepts.
    ///
    /// ```
    /// use kws_host::model::quantity::Quantity;
    /// assert_eq!(Quantity::parse("250m").unwrap().milli_value(), 250);
    /// assert_eq!(Quantity::parse("1.5Gi").unwrap().value(), 1_610_612_736);
    /// assert_eq!(Quantity::parse("1e3").unwrap().value(), 1000);
    /// assert!(Quantity::parse("1.5 Gi").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let invalid = || QuantityError(FORMAT.to_string());
        // The apiserver trims the spaces around a quantity as written in
        // JSON, where a newline or tab can only be written escaped, and so
        // is not trimmed.
        let text = text.trim_matches(|c: char| c.is_whitespace() && !c.is_control());
        if text.is_empty() {
            return Err(QuantityError("quantities must not be empty".to_string()));
        }
        let (negative, rest) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_len);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(invalid());
        }
        let (exp10, exp2) = parse_suffix(suffix).ok_or_else(invalid)?;
        // The apiserver keeps any number of digits. Past what u128 holds,
        // whole digits scale the number up and fraction digits are dropped,
        // rounding up as the apiserver rounds (to the nano) when one of
        // them was not zero.
        let mut digits: u128 = 0;
        let mut scale: i32 = 0;
        let mut inexact = false;
        for (i, c) in whole.bytes().chain(fraction.bytes()).enumerate() {
            let in_fraction = i >= whole.len();
            match digits
                .checked_mul(10)
                .and_then(|d| d.checked_add(u128::from(c - b'0')))
            {
                Some(d) => {
                    digits = d;
                    if in_fraction {
                        scale -= 1;
                    }
                }
                None => {
                    if !in_fraction {
                        scale = scale.saturating_add(1);
                    }
                    inexact |= c != b'0';
                }
            }
        }
        if inexact {
            digits = digits.saturating_add(1);
        }
        Ok(Quantity {
            negative: negative && digits != 0,
            digits,
            exp10: exp10.saturating_add(scale),
            exp2,
        })
    }

    /// Compares two quantities as the apiserver does (`Cmp`), which holds
    /// them rounded up to the nano.
    pub fn cmp_exact(&self, other: &Quantity) -> std::cmp::Ordering {
        self.scaled_wide(9).cmp(&other.scaled_wide(9))
    }

    /// The quantity in thousandths, rounded up (away from zero), as
    /// Kubernetes' `MilliValue()`; saturates at the bounds of `i64`.
    pub fn milli_value(&self) -> i64 {
        self.scaled(3)
    }

    /// The quantity as a whole number, rounded up (away from zero), as
    /// Kubernetes' `Value()`; saturates at the bounds of `i64`.
    pub fn value(&self) -> i64 {
        self.scaled(0)
    }

    /// `self × 10^shift`, rounded away from zero.
    fn scaled(&self, shift: i32) -> i64 {
        let wide = self.scaled_wide(shift);
        i64::try_from(wide).unwrap_or(if wide < 0 { i64::MIN } else { i64::MAX })
    }

    /// `self × 10^shift`, rounded away from zero; saturates at the bounds
    /// of `i128`.
    fn scaled_wide(&self, shift: i32) -> i128 {
        let mut numerator = self.digits;
        let mut denominator: u128 = 1;
        let exp10 = self.exp10.saturating_add(shift);
        let pow = |e: i32| 10u128.checked_pow(e.unsigned_abs());
        let overflow = if self.negative { i128::MIN } else { i128::MAX };
        if numerator == 0 {
            return 0;
        }
        if exp10 >= 0 {
            match pow(exp10).and_then(|p| numerator.checked_mul(p)) {
                Some(n) => numerator = n,
                None => return overflow,
            }
        } else {
            match pow(exp10) {
                Some(p) => denominator = p,
                None => return if self.negative { -1 } else { 1 },
            }
        }
        match 1u128
            .checked_shl(self.exp2)
            .and_then(|m| numerator.checked_mul(m))
        {
            Some(n) => numerator = n,
            None => return overflow,
        }
        let magnitude = numerator.div_ceil(denominator);
        i128::try_from(magnitude).map_or(overflow, |m| if self.negative { -m } else { m })
    }

    /// Whether the quantity is a whole number, however large (the
    /// apiserver's check of integer resources, `MilliValue() % 1000 == 0`,
    /// for amounts that fit).
    pub fn is_whole(&self) -> bool {
        if self.exp10 >= 0 || self.digits == 0 {
            return true;
        }
        // digits × 2^exp2 / 10^k is whole when 5^k and 2^k divide it.
        let k = self.exp10.unsigned_abs();
        let mut digits = self.digits;
        for _ in 0..k {
            if !digits.is_multiple_of(5) {
                return false;
            }
            digits /= 5;
        }
        digits.trailing_zeros() + self.exp2 >= k
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }
}

/// Maps a suffix to (power of ten, power of two).
fn parse_suffix(suffix: &str) -> Option<(i32, u32)> {
    let exponent = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (rest.parse::<i32>().ok()?, 0)
        }
    };
    Some(exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milli(s: &str) -> i64 {
        Quantity::parse(s).unwrap().milli_value()
    }

    fn value(s: &str) -> i64 {
        Quantity::parse(s).unwrap().value()
    }

    #[test]
    fn cpu_spellings() {
        assert_eq!(milli("1"), 1000);
        assert_eq!(milli("0.5"), 500);
        assert_eq!(milli(".5"), 500);
        assert_eq!(milli("5."), 5000);
        assert_eq!(milli("250m"), 250);
        assert_eq!(milli("100000u"), 100);
        assert_eq!(milli("1n"), 1, "rounds up like MilliValue");
        assert_eq!(milli("+2"), 2000);
        assert_eq!(milli("0"), 0);
    }

    #[test]
    fn memory_spellings() {
        assert_eq!(value("128974848"), 128_974_848);
        assert_eq!(value("129e6"), 129_000_000);
        assert_eq!(value("129E+6"), 129_000_000);
        assert_eq!(value("123Mi"), 123 * 1024 * 1024);
        assert_eq!(value("129M"), 129_000_000);
        assert_eq!(value("1.5Gi"), 1_610_612_736);
        assert_eq!(value("1Ki"), 1024);
        assert_eq!(value("2k"), 2000);
        assert_eq!(value("1Ei"), 1 << 60);
        assert_eq!(value("1.5"), 2, "Value rounds up");
        assert_eq!(value("12e-1"), 2);
        assert_eq!(value("100m"), 1);
    }

    #[test]
    fn negative_and_huge() {
        assert_eq!(value("-1"), -1);
        assert_eq!(milli("-1.5m"), -2, "rounds away from zero");
        assert_eq!(value("100E"), i64::MAX, "saturates");
        assert_eq!(milli("1e-30"), 1);
        let hundred_digits = format!("1{}", "0".repeat(100));
        assert_eq!(
            value(&hundred_digits),
            i64::MAX,
            "as many digits as the apiserver takes"
        );
        assert_eq!(value("1e100"), i64::MAX);
        assert_eq!(
            milli(&format!("0.{}1", "0".repeat(45))),
            1,
            "a dropped digit rounds up"
        );
    }

    #[test]
    fn whole_numbers_of_any_size() {
        let whole = |s: &str| Quantity::parse(s).unwrap().is_whole();
        assert!(whole("2") && whole("1e100") && whole("2000m") && whole("1Ki") && whole("0.5Ki"));
        assert!(!whole("1500m") && !whole("1.0001") && !whole("1n") && !whole("0.1Ki"));
    }

    #[test]
    fn spaces_around_are_trimmed_and_comparisons_are_exact() {
        assert_eq!(milli(" 1 "), 1000);
        assert!(Quantity::parse("1\n").is_err(), "escaped in JSON, so kept");
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert!(q("1").cmp_exact(&q("1000m")).is_eq());
        assert!(q("1.0001").cmp_exact(&q("1.0002")).is_lt());
        assert!(q("1Gi").cmp_exact(&q("1G")).is_gt());
    }

    #[test]
    fn rejects_what_the_apiserver_rejects() {
        for bad in [
            "", "abc", "1.5 Gi", "1..5", "1Gb", "1e", "Gi", "1.2.3", "1i", "--1", "1e+",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            Quantity::parse("1Gb").unwrap_err().to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }

    /// Properties: any text is parsed or refused without a panic, the
    /// rounded values saturate rather than overflow, and whole numbers,
    /// thousandths and binary suffixes read back as written.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn any_text_is_parsed_or_refused(text in "\\PC{0,40}") {
                if let Ok(q) = Quantity::parse(&text) {
                    let _ = (q.value(), q.milli_value(), q.is_whole(), q.cmp_exact(&q));
                }
            }

            #[test]
            fn quantity_shaped_text_never_overflows(
                text in "[+-]?[0-9]{0,40}(\\.[0-9]{0,40})?([eE][+-]?[0-9]{1,12}|[numkMGTPE]|[KMGTPE]i)?"
            ) {
                if let Ok(q) = Quantity::parse(&text) {
                    let (value, milli) = (q.value(), q.milli_value());
                    // Rounded away from zero, so the sign is kept (or 0).
                    prop_assert!(value == 0 || (value < 0) == q.is_negative(), "{}", text);
                    prop_assert!(milli == 0 || (milli < 0) == q.is_negative(), "{}", text);
                    // A thousandth more precise, unless saturated.
                    if milli.unsigned_abs() < i64::MAX.unsigned_abs() / 1000 {
                        prop_assert!(milli.unsigned_abs().div_ceil(1000) <= value.unsigned_abs(), "{}", text);
                    }
                }
            }

            #[test]
            fn whole_numbers_read_back(n in any::<i64>()) {
                prop_assert_eq!(Quantity::parse(&n.to_string()).unwrap().value(), n);
            }

            #[test]
            fn thousandths_read_back(m in -(i64::MAX / 2)..(i64::MAX / 2)) {
                let q = Quantity::parse(&format!("{m}m")).unwrap();
                prop_assert_eq!(q.milli_value(), m);
                prop_assert_eq!(q.is_whole(), m % 1000 == 0);
            }

            #[test]
            fn binary_suffixes_read_back(n in 0..(1i64 << 40), power in 1..=6u32) {
                let suffix = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power as usize - 1];
                let q = Quantity::parse(&format!("{n}{suffix}")).unwrap();
                let expected = i64::try_from(i128::from(n) << (10 * power)).unwrap_or(i64::MAX);
                prop_assert_eq!(q.value(), expected);
            }
        }
    }
}
