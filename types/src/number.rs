//! [`Number`]: DynamoDB's number type, an exact decimal.
//!
//! A number has at most [`DIGITS_MAX`] (38) significant decimal digits and is zero or has a
//! magnitude from 1E-130 to 9.9999999999999999999999999999999999999E+125. It is kept
//! normalised as a sign, digits `d1..dn` (each 0..=9, no leading or trailing zero) and an
//! exponent `exp`, meaning `±0.d1d2...dn × 10^exp`, with `exp` in [`EXP_MIN`]..=[`EXP_MAX`].
//! Zero has no digits, exponent 0 and no sign, so every value has one representation and the
//! derived `Eq` and `Hash` are numeric equality.
//!
//! # Text form
//!
//! [`Number::parse`] accepts an optional sign, digits with an optional decimal point (at least
//! one digit on either side of it), and an optional exponent `e`/`E` with optional sign:
//! `"123"`, `"-1.50"`, `"+3"`, `".5"`, `"1e10"`, `"1.5E-7"`. Leading and trailing zeros are not
//! significant. `Display` writes a canonical form: plain digits when the leading digit's power
//! of ten is within [`DISPLAY_PLAIN_POWER_MIN`]..=[`DISPLAY_PLAIN_POWER_MAX`] (`"123"`,
//! `"-1.5"`, `"0.000001"`), otherwise one digit, an optional fraction and a signed exponent
//! (`"1E+125"`, `"-1.25E-7"`). Either way the text is at most 46 bytes and parses back to the
//! same number.
//!
//! # Ordered encoding
//!
//! [`Number::encode_ordered`] writes bytes whose lexicographic order is numeric order, and
//! which end themselves, so they can sit inside keys:
//!
//! | field      | width   | positive            | zero   | negative            |
//! |------------|---------|---------------------|--------|---------------------|
//! | class      | 1       | `03`                | `02`   | `01`                |
//! | exponent   | 1       | `exp + 129`         | absent | `!(exp + 129)`      |
//! | digits     | 1 each  | `digit + 1` (1..10) | absent | `!(digit + 1)`      |
//! | terminator | 1       | `00`                | absent | `ff`                |
//!
//! Among positives a larger exponent is a larger number; at equal exponents the digits decide,
//! and a number that ends first is smaller, which the `00` terminator (below every digit byte)
//! gives. Negatives invert every byte after the class to reverse that order. An encoding takes
//! at most [`ENCODED_LEN_MAX`] bytes.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use crate::error::{Error, Result};

/// The most significant decimal digits a number holds (DynamoDB's precision).
pub const DIGITS_MAX: usize = 38;
/// The smallest exponent: `0.1 × 10^-129` is 1E-130, DynamoDB's smallest magnitude.
pub const EXP_MIN: i16 = -129;
/// The largest exponent: `0.99..9 × 10^126` is 9.99..9E+125, DynamoDB's largest magnitude.
pub const EXP_MAX: i16 = 126;
/// The longest ordered encoding: class, exponent, 38 digits, terminator.
pub const ENCODED_LEN_MAX: usize = 3 + DIGITS_MAX;
/// The smallest power of ten of the leading digit that `Display` writes without an exponent.
pub const DISPLAY_PLAIN_POWER_MIN: i16 = -6;
/// The largest power of ten of the leading digit that `Display` writes without an exponent.
pub const DISPLAY_PLAIN_POWER_MAX: i16 = 38;

/// Added to the exponent so that it fills one unsigned byte, 0..=255.
const EXP_BIAS: i16 = 129;
const CLASS_NEGATIVE: u8 = 0x01;
const CLASS_ZERO: u8 = 0x02;
const CLASS_POSITIVE: u8 = 0x03;
const TERMINATOR: u8 = 0x00;
/// Exponents in text beyond this are out of range anyway; clamping them keeps the exponent
/// arithmetic of `parse` from overflowing on inputs like "1e99999999999999999999".
const PARSE_EXP_CLAMP: i64 = 1_000_000_000;

const _: () = assert!(EXP_MIN + EXP_BIAS == 0 && EXP_MAX + EXP_BIAS == 255);

/// An exact decimal number with DynamoDB's precision and range. See the module docs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    exp: i16,
    len: u8,
    /// `digits[..len]` are significant; the rest stay zero so the derived traits can see them.
    digits: [u8; DIGITS_MAX],
}

impl Number {
    /// The number zero.
    pub const ZERO: Number = Number { negative: false, exp: 0, len: 0, digits: [0; DIGITS_MAX] };

    /// Builds `±0.d1d2...dn × 10^exp` from digits (each 0..=9), dropping leading and trailing
    /// zeros.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if a digit is over 9, if more than [`DIGITS_MAX`] digits are
    /// significant, or if the magnitude is outside DynamoDB's range.
    pub fn from_digits(negative: bool, digits: &[u8], exp: i64) -> Result<Number> {
        if let Some(digit) = digits.iter().find(|d| **d > 9) {
            return Err(invalid(format!("digit {digit} is not 0..=9")));
        }
        let Some(first) = digits.iter().position(|d| *d != 0) else {
            return Ok(Number::ZERO);
        };
        let last = digits.iter().rposition(|d| *d != 0).unwrap_or(first);
        let significant = digits.get(first..=last).unwrap_or_default();
        if significant.len() > DIGITS_MAX {
            return Err(invalid(format!(
                "{} significant digits, more than the {DIGITS_MAX} supported",
                significant.len()
            )));
        }
        let exp = exp.saturating_sub(i64::try_from(first).unwrap_or(i64::MAX));
        if exp < i64::from(EXP_MIN) {
            return Err(invalid("magnitude below 1E-130 (underflow)"));
        }
        if exp > i64::from(EXP_MAX) {
            return Err(invalid("magnitude above 9.9999999999999999999999999999999999999E+125"));
        }
        let mut packed = [0u8; DIGITS_MAX];
        packed.iter_mut().zip(significant).for_each(|(slot, digit)| *slot = *digit);
        // Both casts are in range: exp was checked above, len is at most DIGITS_MAX.
        Ok(Number { negative, exp: exp as i16, len: significant.len() as u8, digits: packed })
    }

    /// Parses DynamoDB's number text. See the module docs for the accepted forms.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for empty or malformed text, more than 38 significant digits, or a
    /// magnitude outside the supported range.
    pub fn parse(text: &str) -> Result<Number> {
        let (negative, rest) = split_sign(text.as_bytes());
        let (int_part, rest) = split_digits(rest);
        let (frac_part, rest) = match rest.split_first() {
            Some((b'.', after_point)) => split_digits(after_point),
            _ => (&[][..], rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid(format!("{text:?} has no digits")));
        }
        let exp10 =
            parse_exponent(rest).map_err(|reason| invalid(format!("{text:?}: {reason}")))?;
        let mantissa: Vec<u8> = int_part.iter().chain(frac_part).map(|b| b - b'0').collect();
        let point = i64::try_from(int_part.len()).unwrap_or(i64::MAX);
        Number::from_digits(negative, &mantissa, point.saturating_add(exp10))
    }

    /// The significant digits, most significant first, each 0..=9. Empty for zero.
    pub fn digits(&self) -> &[u8] {
        self.digits.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The exponent `exp` of `0.d1d2...dn × 10^exp`; 0 for zero.
    pub fn exponent(&self) -> i16 {
        self.exp
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.len == 0
    }

    /// Whether this is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The number with the opposite sign (zero stays zero).
    pub fn negate(&self) -> Number {
        let mut negated = self.clone();
        negated.negative = !self.negative && !self.is_zero();
        negated
    }

    /// The exact sum, as an atomic counter's `ADD` needs.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if the sum needs more than 38 significant digits or is outside the
    /// supported range.
    pub fn checked_add(&self, other: &Number) -> Result<Number> {
        if self.is_zero() {
            return Ok(other.clone());
        }
        if other.is_zero() {
            return Ok(self.clone());
        }
        // Align both magnitudes on the power of ten of the lowest digit of either, as
        // little-endian digit vectors; the widest span is about 300 digits.
        let low = self.lowest_power().min(other.lowest_power());
        let high = self.exp.max(other.exp);
        let width = usize::try_from(high - low).unwrap_or(0);
        let a = self.aligned(low, width);
        let b = other.aligned(low, width);
        let (negative, sum) = if self.negative == other.negative {
            (self.negative, add_digits(&a, &b))
        } else {
            match cmp_magnitude(self, other) {
                Ordering::Equal => return Ok(Number::ZERO),
                Ordering::Greater => (self.negative, sub_digits(&a, &b)),
                Ordering::Less => (other.negative, sub_digits(&b, &a)),
            }
        };
        let big_endian: Vec<u8> = sum.iter().rev().copied().collect();
        // The top digit of `sum` stands for `10^(low + len - 1)`, so as `0.d1d2...` the
        // exponent is `low + len`.
        let exp = i64::from(low) + i64::try_from(sum.len()).unwrap_or(0);
        Number::from_digits(negative, &big_endian, exp)
    }

    /// The value as an `i64`, if it is an integer in `i64`'s range.
    pub fn to_i64(&self) -> Option<i64> {
        let len = i16::from(self.len);
        // Any integer in i64's range has at most 19 digits; a fraction has exp < len.
        if self.exp > 19 || self.exp < len {
            return None;
        }
        let coefficient = self.digits().iter().fold(0i128, |acc, d| acc * 10 + i128::from(*d));
        let magnitude = coefficient * 10i128.pow(u32::try_from(self.exp - len).ok()?);
        i64::try_from(if self.negative { -magnitude } else { magnitude }).ok()
    }

    /// The nearest `f64` (approximate: 38 digits do not fit in 53 bits).
    pub fn to_f64(&self) -> f64 {
        if self.is_zero() {
            return 0.0;
        }
        let mut text = String::with_capacity(ENCODED_LEN_MAX + 8);
        text.push_str(if self.negative { "-0." } else { "0." });
        self.digits().iter().for_each(|d| text.push(char::from(b'0' + d)));
        // Rust's float parsing rounds correctly, so the text form is the simplest exact route.
        let _ = write!(text, "e{}", self.exp);
        text.parse().unwrap_or(f64::NAN)
    }

    /// Appends the order-preserving encoding described in the module docs.
    pub fn encode_ordered(&self, out: &mut Vec<u8>) {
        let class = self.class();
        out.push(class);
        if class == CLASS_ZERO {
            return;
        }
        let mask = if self.negative { 0xff } else { 0x00 };
        // exp + EXP_BIAS is 0..=255 by the const assert and the exponent invariant.
        out.push((self.exp + EXP_BIAS) as u8 ^ mask);
        out.extend(self.digits().iter().map(|d| (d + 1) ^ mask));
        out.push(TERMINATOR ^ mask);
    }

    /// The length of [`Number::encode_ordered`]'s output.
    pub fn encoded_ordered_len(&self) -> usize {
        if self.is_zero() {
            1
        } else {
            3 + usize::from(self.len)
        }
    }

    /// Decodes an ordered encoding from the start of `buf`, returning it and the bytes used.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the bytes are not exactly what [`Number::encode_ordered`] writes.
    pub fn decode_ordered(buf: &[u8]) -> Result<(Number, usize)> {
        let Some((&class, rest)) = buf.split_first() else {
            return Err(Error::decode("number", "empty input"));
        };
        let mask = match class {
            CLASS_ZERO => return Ok((Number::ZERO, 1)),
            CLASS_NEGATIVE => 0xff,
            CLASS_POSITIVE => 0x00,
            other => return Err(Error::decode("number", format!("bad class byte {other:#04x}"))),
        };
        let Some((&exp_byte, rest)) = rest.split_first() else {
            return Err(Error::decode("number", "truncated before the exponent"));
        };
        let exp = i16::from(exp_byte ^ mask) - EXP_BIAS;
        let mut digits = [0u8; DIGITS_MAX];
        for (index, &byte) in rest.iter().enumerate() {
            let byte = byte ^ mask;
            if byte == TERMINATOR {
                return finish_decoded(class == CLASS_NEGATIVE, exp, &digits, index);
            }
            if byte > 10 {
                return Err(Error::decode("number", format!("bad digit byte {byte:#04x}")));
            }
            let Some(slot) = digits.get_mut(index) else {
                return Err(Error::decode("number", "more than 38 digits"));
            };
            *slot = byte - 1;
        }
        Err(Error::decode("number", "no terminator"))
    }

    fn class(&self) -> u8 {
        match (self.is_zero(), self.negative) {
            (true, _) => CLASS_ZERO,
            (false, true) => CLASS_NEGATIVE,
            (false, false) => CLASS_POSITIVE,
        }
    }

    /// The power of ten of the last significant digit.
    fn lowest_power(&self) -> i16 {
        self.exp - i16::from(self.len)
    }

    /// The magnitude's digits, least significant first, the first standing for `10^low`,
    /// padded with zeros to `width`.
    fn aligned(&self, low: i16, width: usize) -> Vec<u8> {
        let padding = usize::try_from(self.lowest_power() - low).unwrap_or(0);
        let mut out = vec![0u8; padding];
        out.extend(self.digits().iter().rev());
        out.resize(width, 0);
        out
    }
}

/// Checks the digits a decoder collected and builds the number.
fn finish_decoded(
    negative: bool,
    exp: i16,
    digits: &[u8; DIGITS_MAX],
    len: usize,
) -> Result<(Number, usize)> {
    let used = digits.get(..len).unwrap_or_default();
    match (used.first(), used.last()) {
        (None, _) => Err(Error::decode("number", "no digits")),
        (Some(0), _) => Err(Error::decode("number", "leading zero digit")),
        (_, Some(0)) => Err(Error::decode("number", "trailing zero digit")),
        // len is at most DIGITS_MAX, checked while collecting.
        _ => Ok((Number { negative, exp, len: len as u8, digits: *digits }, len + 3)),
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::Invalid { what: "number", reason: reason.into() }
}

fn split_sign(text: &[u8]) -> (bool, &[u8]) {
    match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    }
}

fn split_digits(text: &[u8]) -> (&[u8], &[u8]) {
    let end = text.iter().position(|b| !b.is_ascii_digit()).unwrap_or(text.len());
    text.split_at(end)
}

/// Parses what follows the mantissa: nothing, or an exponent.
fn parse_exponent(rest: &[u8]) -> std::result::Result<i64, &'static str> {
    let Some((&marker, rest)) = rest.split_first() else {
        return Ok(0);
    };
    if marker != b'e' && marker != b'E' {
        return Err("unexpected character after the digits");
    }
    let (negative, rest) = split_sign(rest);
    let (digits, rest) = split_digits(rest);
    if digits.is_empty() || !rest.is_empty() {
        return Err("malformed exponent");
    }
    let magnitude =
        digits.iter().fold(0i64, |acc, b| (acc * 10 + i64::from(b - b'0')).min(PARSE_EXP_CLAMP));
    Ok(if negative { -magnitude } else { magnitude })
}

fn cmp_magnitude(a: &Number, b: &Number) -> Ordering {
    a.exp.cmp(&b.exp).then_with(|| a.digits().cmp(b.digits()))
}

/// Adds little-endian digit vectors of equal width; the result may be one digit wider.
fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut carry = 0;
    let mut out: Vec<u8> = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let sum = x + y + carry;
            carry = sum / 10;
            sum % 10
        })
        .collect();
    out.push(carry);
    out
}

/// Subtracts little-endian digit vectors of equal width, `a >= b`.
fn sub_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut borrow = 0;
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let subtrahend = y + borrow;
            borrow = u8::from(*x < subtrahend);
            x + 10 * borrow - subtrahend
        })
        .collect()
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        self.class().cmp(&other.class()).then_with(|| {
            let magnitude = cmp_magnitude(self, other);
            if self.negative {
                magnitude.reverse()
            } else {
                magnitude
            }
        })
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Number {
        let magnitude = value.unsigned_abs().to_string();
        let digits: Vec<u8> = magnitude.bytes().map(|b| b - b'0').collect();
        let exp = i64::try_from(digits.len()).unwrap_or(0);
        // At most 20 digits and an exponent of at most 20: always in range.
        Number::from_digits(value < 0, &digits, exp).unwrap_or(Number::ZERO)
    }
}

impl FromStr for Number {
    type Err = Error;

    fn from_str(text: &str) -> Result<Number> {
        Number::parse(text)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_char('-')?;
        }
        let power = self.exp - 1;
        if (DISPLAY_PLAIN_POWER_MIN..=DISPLAY_PLAIN_POWER_MAX).contains(&power) {
            self.fmt_plain(f)
        } else {
            self.fmt_scientific(f, power)
        }
    }
}

impl Number {
    fn fmt_plain(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.digits();
        let exp = usize::try_from(self.exp).unwrap_or(0);
        if self.exp <= 0 {
            f.write_str("0.")?;
            write_zeros(f, usize::try_from(-self.exp).unwrap_or(0))?;
            return write_digits(f, digits);
        }
        if exp < digits.len() {
            let (int_part, frac_part) = digits.split_at(exp);
            write_digits(f, int_part)?;
            f.write_char('.')?;
            return write_digits(f, frac_part);
        }
        write_digits(f, digits)?;
        write_zeros(f, exp - digits.len())
    }

    fn fmt_scientific(&self, f: &mut fmt::Formatter<'_>, power: i16) -> fmt::Result {
        let (first, rest) = self.digits().split_at(1.min(self.digits().len()));
        write_digits(f, first)?;
        if !rest.is_empty() {
            f.write_char('.')?;
            write_digits(f, rest)?;
        }
        write!(f, "E{power:+}")
    }
}

fn write_digits(f: &mut fmt::Formatter<'_>, digits: &[u8]) -> fmt::Result {
    digits.iter().try_for_each(|d| f.write_char(char::from(b'0' + d)))
}

fn write_zeros(f: &mut fmt::Formatter<'_>, count: usize) -> fmt::Result {
    (0..count).try_for_each(|_| f.write_char('0'))
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::{arb_number, config};

    fn n(text: &str) -> Number {
        Number::parse(text).unwrap()
    }

    fn encoded(number: &Number) -> Vec<u8> {
        let mut out = Vec::new();
        number.encode_ordered(&mut out);
        out
    }

    #[test]
    fn parses_dynamodb_forms() {
        for (text, shown) in [
            ("123", "123"),
            ("-1.50", "-1.5"),
            ("+3", "3"),
            (".5", "0.5"),
            ("5.", "5"),
            ("1e10", "10000000000"),
            ("1.5E-7", "1.5E-7"),
            ("0.000001", "0.000001"),
            ("-0", "0"),
            ("0e999999999999999999999", "0"),
            ("000123.4500", "123.45"),
            ("1E-130", "1E-130"),
            (
                "9.9999999999999999999999999999999999999E+125",
                "9.9999999999999999999999999999999999999E+125",
            ),
            ("1e38", "100000000000000000000000000000000000000"),
            ("1e39", "1E+39"),
            ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ] {
            assert_eq!(n(text).to_string(), shown, "parsing {text}");
        }
    }

    #[test]
    fn rejects_bad_text() {
        for text in [
            "",
            "-",
            "+",
            ".",
            "e5",
            "1e",
            "1e+",
            "1.2.3",
            "abc",
            "1 ",
            " 1",
            "NaN",
            "Infinity",
            "0x10",
            "1e5.5",
            "--1",
            "123456789012345678901234567890123456789",
            "1E-131",
            "1E+126",
            "-1E+126",
            "1e99999999999999999999999",
        ] {
            assert!(Number::parse(text).is_err(), "{text:?} should not parse");
        }
        // Zeros around the digits do not count as significant.
        assert!(Number::parse("0.000123456789012345678901234567890123456780000").is_ok());
    }

    #[test]
    fn integers_and_floats() {
        for value in [0i64, 1, -1, 10, -100, 123_456, i64::MAX, i64::MIN] {
            let number = Number::from(value);
            assert_eq!(number.to_i64(), Some(value));
            assert_eq!(number.to_string(), value.to_string());
        }
        assert_eq!(n("1.5").to_i64(), None);
        assert_eq!(n("1e20").to_i64(), None);
        assert_eq!(n("9223372036854775808").to_i64(), None);
        assert_eq!(n("-1.25e2").to_f64(), -125.0);
        assert_eq!(n("1E-130").to_f64(), 1e-130);
    }

    #[test]
    fn addition_edges() {
        assert_eq!(n("0.1").checked_add(&n("0.2")).unwrap(), n("0.3"));
        assert_eq!(n("5").checked_add(&n("-5")).unwrap(), Number::ZERO);
        assert_eq!(n("-1.5").checked_add(&n("0.25")).unwrap(), n("-1.25"));
        let nines = n("99999999999999999999999999999999999999");
        assert_eq!(nines.checked_add(&n("1")).unwrap(), n("1e38"));
        assert!(n("1e38").checked_add(&n("1")).is_err(), "39 significant digits");
        assert!(n("1e125").checked_add(&n("1e-129")).is_err());
        assert!(n("9.9999999999999999999999999999999999999E+125")
            .checked_add(&n("1E+88"))
            .is_err());
        assert_eq!(n("1E-130").checked_add(&n("-1E-130")).unwrap(), Number::ZERO);
        assert_eq!(n("7").negate(), n("-7"));
        assert_eq!(Number::ZERO.negate(), Number::ZERO);
    }

    #[test]
    fn encoding_examples() {
        assert_eq!(encoded(&Number::ZERO), vec![CLASS_ZERO]);
        assert_eq!(encoded(&n("12")), vec![CLASS_POSITIVE, 2 + 129, 2, 3, 0]);
        assert_eq!(encoded(&n("-12")), vec![CLASS_NEGATIVE, !(2 + 129), !2, !3, 0xff]);
        for bad in
            [&[][..], &[0x04], &[0x03], &[0x03, 131], &[0x03, 131, 1, 0], &[0x03, 131, 2, 1, 0]]
        {
            assert!(Number::decode_ordered(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn encoding_order_is_numeric_order(a in arb_number(), b in arb_number()) {
            prop_assert_eq!(encoded(&a).cmp(&encoded(&b)), a.cmp(&b));
            prop_assert_eq!(a == b, encoded(&a) == encoded(&b));
        }

        #[test]
        fn encoding_round_trips(
            a in arb_number(),
            tail in prop::collection::vec(any::<u8>(), 0..3),
        ) {
            let mut bytes = encoded(&a);
            prop_assert_eq!(bytes.len(), a.encoded_ordered_len());
            prop_assert!(bytes.len() <= ENCODED_LEN_MAX);
            bytes.extend_from_slice(&tail);
            let len = a.encoded_ordered_len();
            prop_assert_eq!(Number::decode_ordered(&bytes).unwrap(), (a, len));
        }

        #[test]
        fn text_round_trips(a in arb_number()) {
            let text = a.to_string();
            prop_assert!(text.len() <= 46, "{}", text);
            prop_assert_eq!(Number::parse(&text).unwrap(), a.clone());
            let approx = a.to_f64();
            let expected: f64 = text.parse().unwrap();
            prop_assert_eq!(approx, expected);
        }

        #[test]
        fn addition_matches_i128(
            a in -(10i128.pow(37))..10i128.pow(37),
            b in -(10i128.pow(37))..10i128.pow(37),
        ) {
            let sum = n(&a.to_string()).checked_add(&n(&b.to_string())).unwrap();
            prop_assert_eq!(sum, n(&(a + b).to_string()));
        }

        #[test]
        fn addition_is_exact_on_small_decimals(
            a in -5000i64..5000,
            b in -5000i64..5000,
            sa in 0u32..4,
            sb in 0u32..4,
        ) {
            // a / 10^sa + b / 10^sb computed over a common denominator of 10^6.
            let x = n(&format!("{a}e-{sa}"));
            let y = n(&format!("{b}e-{sb}"));
            let scaled = a * 10i64.pow(6 - sa) + b * 10i64.pow(6 - sb);
            prop_assert_eq!(x.checked_add(&y).unwrap(), n(&format!("{scaled}e-6")));
            prop_assert_eq!(x.checked_add(&y).unwrap(), y.checked_add(&x).unwrap());
        }

        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..48)) {
            if let Ok((number, used)) = Number::decode_ordered(&bytes) {
                prop_assert_eq!(&encoded(&number)[..], &bytes[..used]);
            }
        }

        #[test]
        fn parsing_random_text_never_panics(text in "[-+0-9.eE]{0,12}") {
            if let Ok(number) = Number::parse(&text) {
                prop_assert_eq!(Number::parse(&number.to_string()).unwrap(), number);
            }
        }
    }
}
