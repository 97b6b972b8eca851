use serde::{Deserialize, Serialize};

/// An ISO 4217 currency code: three upper-case letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        match raw.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err("must be an ISO 4217 code of three upper-case letters, such as USD"),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("BUG: ASCII by construction")
    }
}

impl TryFrom<String> for Currency {
    type Error = &'static str;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.as_str().to_owned()
    }
}

/// The price of a stay, in minor units of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    pub nightly_price: i64,
    pub nights: i64,
    pub nightly_subtotal: i64,
    pub cleaning_fee: i64,
    pub service_fee: i64,
    pub total: i64,
}

impl Quote {
    /// Guest service fee: 14% of the nightly subtotal, rounded half up to
    /// a whole minor unit.
    pub const SERVICE_FEE_PERCENT: i64 = 14;

    /// Prices `nights` at `nightly_price` plus the property's cleaning fee
    /// (once per stay) and the service fee; `None` on overflow.
    pub fn compute(nightly_price: i64, cleaning_fee: i64, nights: i64) -> Option<Self> {
        let nightly_subtotal = nightly_price.checked_mul(nights)?;
        let service_fee = nightly_subtotal.checked_mul(Self::SERVICE_FEE_PERCENT)?.checked_add(50)? / 100;
        let total = nightly_subtotal.checked_add(cleaning_fee)?.checked_add(service_fee)?;
        Some(Self { nightly_price, nights, nightly_subtotal, cleaning_fee, service_fee, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_three_upper_case_letters() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        for bad in ["eur", "EURO", "E1R", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_quote_adds_nights_cleaning_and_a_rounded_service_fee() {
        let quote = Quote::compute(10_000, 2_500, 3).unwrap();
        assert_eq!(quote.nightly_subtotal, 30_000);
        assert_eq!(quote.service_fee, 4_200);
        assert_eq!(quote.total, 36_700);
        // 14% of 1_07 = 14.98 → 15; of 1_03 = 14.42 → 14
        assert_eq!(Quote::compute(107, 0, 1).unwrap().service_fee, 15);
        assert_eq!(Quote::compute(103, 0, 1).unwrap().service_fee, 14);
        assert_eq!(Quote::compute(i64::MAX / 2, 0, 3), None);
    }
}
