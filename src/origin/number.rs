//! Number parsing and printing with the rules Redis applies where the generic ones
//! in [`crate::protocol`] do not fit: INCRBYFLOAT's `long double`, SCAN's cursor.

/// Redis's `MAX_LONG_DOUBLE_CHARS`: `string2ld` refuses inputs this long or longer.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// C's `isspace` in the "C" locale.
fn c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The bytes of an argument as C string functions see them: up to the first NUL.
pub fn cstr(b: &[u8]) -> &[u8] {
    match memchr::memchr(0, b) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// True if option argument `arg` is `name` as Redis's `strcasecmp` compares them.
pub fn is_opt(arg: &[u8], name: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(name.as_bytes())
}

/// Parses a float as Redis's `string2ld` (INCRBYFLOAT) accepts it.
///
/// `strtold` must consume every byte (so no NUL, no trailing space), a leading space
/// is refused, `inf`/`infinity` are accepted, NaN is refused, and C99 hex floats
/// (`0x1p3`) are accepted. The value is an `f64` here but a `long double` in Redis:
/// magnitudes beyond `f64` (1e400) become infinite here and are refused later as
/// "would produce NaN or Infinity", and underflow beyond `long double` (1e-5000),
/// which Redis refuses, reads as 0 here.
pub fn parse_ld(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS || c_space(s[0]) {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let v = match parse_hex(text) {
        Some(v) => v,
        None => text.parse::<f64>().ok()?,
    };
    if v.is_nan() { None } else { Some(v) }
}

/// A C99 hexadecimal float: `[sign] 0x hexdigits [. hexdigits] [p [sign] digits]`.
fn parse_hex(text: &str) -> Option<f64> {
    let (neg, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let rest = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X"))?;
    let (mantissa, exp) = match rest.find(['p', 'P']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars().chain(frac.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut e: i64 = -4 * frac.len() as i64;
    if let Some(exp) = exp {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Saturate: anything past a few thousand is already 0 or infinity.
        let n = digits.parse::<i64>().unwrap_or(i64::MAX).min(1 << 20);
        e += if exp.starts_with('-') { -n } else { n };
    }
    let scaled = v * 2f64.powi(e.clamp(-1 << 20, 1 << 20) as i32);
    Some(if neg { -scaled } else { scaled })
}

/// Prints an INCRBYFLOAT result as Redis does (`ld2string` with `LD_STR_HUMAN`):
/// `%.17Lf`, then trailing zeros and a trailing `.` trimmed, and `-0` as `0`.
///
/// Redis prints the exact decimal expansion of a `long double` (64-bit mantissa);
/// this has an `f64`. Output agrees with Redis when the exact decimal result has at
/// most 15 significant digits and `long double` rounding does not show within 17
/// decimals (10.5, 0.1 + 0.2 = 0.3, 5.0e3 = 5000, 1e20), and for integers that are
/// exact in `f64`. It differs where Redis shows `long double` rounding error (10000000000.1
/// prints as 10000000000.09999999962747097 in Redis, 10000000000.1 here), where a
/// result needs 16 or more significant digits, and past 2^53 where `f64` has fewer
/// integer digits than `long double` (Redis also prints every digit of 1e300's binary
/// value; this prints 1 and 300 zeros).
pub fn format_ld(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_infinite() {
            if v > 0.0 { "inf" } else { "-inf" }.to_string()
        } else {
            "0".to_string()
        };
    }
    // Integers that f64 holds exactly, and long double too: print every digit.
    if v.fract() == 0.0 && v.abs() < 18_446_744_073_709_551_616.0 {
        return format!("{v:.0}");
    }
    // Shortest digits that read back as `v`; if they carry f64 arithmetic noise
    // (0.30000000000000004), round to 15 significant digits, the most a decimal
    // can have and still survive a trip through f64 unchanged.
    let mut sci = format!("{v:e}");
    let sig_digits =
        sci.split('e').next().map_or(0, |m| m.bytes().filter(u8::is_ascii_digit).count());
    if v.fract() != 0.0 && sig_digits > 15 {
        sci = format!("{v:.14e}");
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    fixed(neg, &digits, exp)
}

/// Renders `0.d1d2d3... x 10^(exp+1)` in fixed notation with at most 17 decimals
/// (rounded half up), trimmed as Redis trims.
fn fixed(neg: bool, digits: &[u8], exp: i64) -> String {
    // Integer digits and fraction digits, as ASCII.
    let mut int: Vec<u8> = Vec::new();
    let mut frac: Vec<u8> = Vec::new();
    if exp >= 0 {
        let n = (exp + 1) as usize;
        for i in 0..n.max(digits.len()) {
            let d = digits.get(i).copied().unwrap_or(b'0');
            if i < n { int.push(d) } else { frac.push(d) }
        }
    } else {
        int.push(b'0');
        frac.resize((-exp - 1) as usize, b'0');
        frac.extend_from_slice(digits);
    }
    if frac.len() > 17 {
        let round_up = frac[17] >= b'5';
        frac.truncate(17);
        if round_up {
            // Carry through the fraction, then the integer part.
            let mut carry = true;
            for d in frac.iter_mut().rev().chain(int.iter_mut().rev()) {
                if *d == b'9' {
                    *d = b'0';
                } else {
                    *d += 1;
                    carry = false;
                    break;
                }
            }
            if carry {
                int.insert(0, b'1');
            }
        }
    }
    while frac.last() == Some(&b'0') {
        frac.pop();
    }
    let mut out = String::with_capacity(int.len() + frac.len() + 2);
    if neg && !(int == b"0" && frac.is_empty()) {
        out.push('-');
    }
    out.extend(int.iter().map(|&b| char::from(b)));
    if !frac.is_empty() {
        out.push('.');
        out.extend(frac.iter().map(|&b| char::from(b)));
    }
    out
}

/// Parses a SCAN cursor as Redis does: `strtoul(s, &end, 10)` must stop at the end
/// of the C string, with no leading space and no overflow. So `""` is 0, `-1` is
/// 2^64-1, `+5` is 5 and `7\0x` is 7.
pub fn parse_cursor(s: &[u8]) -> Option<u64> {
    if s.first().is_some_and(|&b| c_space(b)) {
        return None;
    }
    let s = cstr(s);
    if s.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_parse_like_string2ld() {
        assert_eq!(parse_ld(b"1.5"), Some(1.5));
        assert_eq!(parse_ld(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_ld(b"+.5"), Some(0.5));
        assert_eq!(parse_ld(b"5."), Some(5.0));
        assert_eq!(parse_ld(b"0x10"), Some(16.0));
        assert_eq!(parse_ld(b"0x1p3"), Some(8.0));
        assert_eq!(parse_ld(b"-0X.8"), Some(-0.5));
        assert_eq!(parse_ld(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_ld(b"-Infinity"), Some(f64::NEG_INFINITY));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1.5\x00",
            b"\x001",
            b"abc",
            b"1e",
            b"0x",
            b"0x1p",
            b"1,5",
        ] {
            assert_eq!(parse_ld(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_ld(&vec![b'1'; 5119]).map(|v| v > 1e300), Some(true));
        assert_eq!(parse_ld(&vec![b'1'; 5120]), None);
    }

    #[test]
    fn floats_print_like_redis() {
        let cases: &[(f64, &str)] = &[
            (10.5, "10.5"),
            (5000.0, "5000"),
            (0.1 + 0.2, "0.3"),
            (1.25, "1.25"),
            (17179869185.5, "17179869185.5"),
            (34359738368.0, "34359738368"),
            (1e20, "100000000000000000000"),
            (3.0e-5, "0.00003"),
            (1e-20, "0"),
            (-1e-20, "0"),
            (-0.0, "0"),
            (-2.5, "-2.5"),
            (123.456, "123.456"),
            (9007199254740994.0, "9007199254740994"),
            (1e23, "100000000000000000000000"),
            (0.123456789, "0.123456789"),
            (1e-17, "0.00000000000000001"),
        ];
        for &(v, want) in cases {
            assert_eq!(format_ld(v), want, "{v:e}");
        }
    }

    #[test]
    fn cursor_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+5"), Some(5));
        assert_eq!(parse_cursor(b"007"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"7\x00x"), Some(7));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 5"), None);
        assert_eq!(parse_cursor(b"5 "), None);
        assert_eq!(parse_cursor(b"+"), None);
        assert_eq!(parse_cursor(b"x"), None);
    }
}
