//! How values read in an email: money, dates, counts, and HTML escaping.

use chrono::{DateTime, NaiveDate, Utc};

/// Currencies whose minor unit is the major unit (ISO 4217 exponent 0).
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF",
    "XPF",
];
/// Currencies with a thousandth minor unit (ISO 4217 exponent 3).
const THREE_DECIMAL: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// Decimal places of `currency`'s minor unit; 2 unless listed above.
pub fn decimals(currency: &str) -> u32 {
    if ZERO_DECIMAL.contains(&currency) {
        0
    } else if THREE_DECIMAL.contains(&currency) {
        3
    } else {
        2
    }
}

/// An amount in minor units as major units and the code: `12345, "EUR"` →
/// `123.45 EUR`, `12345, "JPY"` → `12345 JPY`.
pub fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let amount = minor.unsigned_abs();
    match decimals(currency) {
        0 => format!("{sign}{amount} {currency}"),
        places => {
            let unit = 10_u64.pow(places);
            let (major, fraction) = (amount / unit, amount % unit);
            format!("{sign}{major}.{fraction:0width$} {currency}", width = places as usize)
        }
    }
}

/// `Mon 10 Jun 2030`.
pub fn date(day: NaiveDate) -> String {
    day.format("%a %-d %b %Y").to_string()
}

/// `14:30 UTC on Mon 10 Jun 2030`: recipients' time zones are unknown.
pub fn instant(at: DateTime<Utc>) -> String {
    format!("{} UTC on {}", at.format("%H:%M"), date(at.date_naive()))
}

/// `1 night`, `3 nights`.
pub fn count(n: i64, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

pub fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_html() {
        assert_eq!(html_escape("<b>Ana & \"Bo\"</b>"), "&lt;b&gt;Ana &amp; &quot;Bo&quot;&lt;/b&gt;");
    }

    #[test]
    fn money_is_shown_in_major_units_of_its_currency() {
        assert_eq!(money(12_345, "EUR"), "123.45 EUR");
        assert_eq!(money(5, "USD"), "0.05 USD");
        assert_eq!(money(100, "GBP"), "1.00 GBP");
        assert_eq!(money(0, "EUR"), "0.00 EUR");
        assert_eq!(money(12_345, "JPY"), "12345 JPY");
        assert_eq!(money(12_345, "KRW"), "12345 KRW");
        assert_eq!(money(12_345, "KWD"), "12.345 KWD");
        assert_eq!(money(-250, "EUR"), "-2.50 EUR");
        assert_eq!(money(i64::MIN, "EUR"), "-92233720368547758.08 EUR");
    }

    #[test]
    fn dates_and_counts_read_naturally() {
        let day = NaiveDate::from_ymd_opt(2030, 6, 10).unwrap();
        assert_eq!(date(day), "Mon 10 Jun 2030");
        assert_eq!(instant(day.and_hms_opt(14, 5, 0).unwrap().and_utc()), "14:05 UTC on Mon 10 Jun 2030");
        assert_eq!(count(1, "night", "nights"), "1 night");
        assert_eq!(count(3, "night", "nights"), "3 nights");
    }
}
