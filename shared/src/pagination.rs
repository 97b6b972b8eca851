//! Keyset pagination: a page size and an opaque cursor that names the last
//! row seen, so pages stay stable while rows are inserted.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

/// A validated page size: 1 to 100, 20 when unspecified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageLimit(u16);

impl PageLimit {
    pub const DEFAULT: u16 = 20;
    pub const MAX: u16 = 100;

    pub fn parse(raw: Option<i64>) -> Result<Self, String> {
        match raw {
            None => Ok(Self(Self::DEFAULT)),
            Some(n) if (1..=i64::from(Self::MAX)).contains(&n) => Ok(Self(n as u16)),
            Some(_) => Err(format!("must be between 1 and {}", Self::MAX)),
        }
    }

    /// Rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch(self) -> i64 {
        i64::from(self.0) + 1
    }

    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// Encodes the sort key of the last row of a page as an opaque cursor.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    let json = serde_json::to_vec(key).expect("BUG: cursor keys serialize");
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor made by [`encode_cursor`] for the same key type.
pub fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, &'static str> {
    const INVALID: &str = "is not a cursor returned by this list";
    let json = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| INVALID)?;
    serde_json::from_slice(&json).map_err(|_| INVALID)
}

/// A timestamp inside a cursor. Cursors come back from clients, so one
/// that no page could have produced (outside years 1970 to 9999, which
/// PostgreSQL would refuse) fails to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CursorTime(pub chrono::DateTime<chrono::Utc>);

impl<'de> serde::Deserialize<'de> for CursorTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use chrono::Datelike;
        let time = chrono::DateTime::<chrono::Utc>::deserialize(deserializer)?;
        if !(1970..=9999).contains(&time.year()) {
            return Err(serde::de::Error::custom("timestamp out of range"));
        }
        Ok(Self(time))
    }
}

/// A page of results and the cursor of the next one.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit.fetch()` rows: the extra row, if any, only
    /// proves that there is a next page, whose cursor is the key of the last
    /// row shown.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: PageLimit, key: impl Fn(&T) -> K) -> Self {
        let next_cursor = if rows.len() > limit.get() {
            rows.truncate(limit.get());
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        Self { items: rows, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_20_and_stop_at_100() {
        assert_eq!(PageLimit::parse(None).unwrap().get(), 20);
        assert_eq!(PageLimit::parse(Some(100)).unwrap().fetch(), 101);
        assert!(PageLimit::parse(Some(0)).is_err());
        assert!(PageLimit::parse(Some(101)).is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = encode_cursor(&(42_i64, "x"));
        assert_eq!(decode_cursor::<(i64, String)>(&cursor).unwrap(), (42, "x".to_owned()));
        assert!(decode_cursor::<(i64, String)>("%%%").is_err());
        assert!(decode_cursor::<(i64, String)>(&encode_cursor(&"other shape")).is_err());
    }

    #[test]
    fn a_cursor_time_outside_plausible_years_does_not_decode() {
        let ok = encode_cursor(&("2026-11-24T00:00:00Z", 1));
        assert!(decode_cursor::<(CursorTime, i32)>(&ok).is_ok());
        for forged in ["-4714-01-01T00:00:00Z", "+200000-01-01T00:00:00Z", "1969-12-31T23:59:59Z"] {
            assert!(decode_cursor::<(CursorTime, i32)>(&encode_cursor(&(forged, 1))).is_err(), "{forged}");
        }
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_follow() {
        let limit = PageLimit::parse(Some(2)).unwrap();
        let page = Page::from_rows(vec![1, 2, 3], limit, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(decode_cursor::<i32>(page.next_cursor.as_deref().unwrap()).unwrap(), 2);
        assert!(Page::from_rows(vec![1, 2], limit, |n| *n).next_cursor.is_none());
    }
}
