//! Stripe's request encoding: `application/x-www-form-urlencoded` pairs whose keys nest with
//! brackets (`metadata[order]=42`, `payment_method_types[0]=card`, `expand[]=latest_charge`).
//!
//! A body parses into a tree of [`Param`]s. Lists are maps keyed by their index, as Stripe
//! itself treats `a[0]`/`a[1]`; [`Params::list`] orders them numerically. Two bodies with the
//! same pairs in another order parse to equal trees, which is what idempotency compares.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// One parameter value: a string, or a map of nested parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Str(String),
    Map(BTreeMap<String, Param>),
}

/// The parameters of one request, keyed by their top-level name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, Param>);

/// Why a body is not valid form data; the message is what the client sees.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("Invalid parameter name: {0:?}.")]
    BadName(String),
    #[error("Invalid hash: {0:?} is given both as a value and as a hash.")]
    Conflict(String),
}

impl Params {
    /// Parses a form body or a query string (`+` is a space, `%XX` a byte).
    pub fn parse(input: &str) -> Result<Self, FormError> {
        let mut params = Params::default();
        for pair in input.split('&').filter(|pair| !pair.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(raw_key);
            let (name, path) = split_key(&key).ok_or_else(|| FormError::BadName(key.clone()))?;
            insert(&mut params.0, name, &path, decode(raw_value)).map_err(|()| FormError::Conflict(key.clone()))?;
        }
        Ok(params)
    }

    /// The top-level parameter names, for logging the ones an endpoint ignores.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// A scalar parameter; `None` when absent or when given as a hash.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.0.get(name) {
            Some(Param::Str(value)) => Some(value),
            _ => None,
        }
    }

    /// A hash of strings such as `metadata[key]=value`; nested hashes inside it are skipped.
    pub fn map(&self, name: &str) -> BTreeMap<String, String> {
        match self.0.get(name) {
            Some(Param::Map(map)) => map
                .iter()
                .filter_map(|(key, value)| match value {
                    Param::Str(value) => Some((key.clone(), value.clone())),
                    Param::Map(_) => None,
                })
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// A list such as `payment_method_types[0]=card`, in index order. A lone scalar is a list
    /// of one, as Stripe accepts.
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(Param::Str(value)) => vec![value.clone()],
            Some(Param::Map(map)) => {
                let mut items: Vec<(u64, &Param)> =
                    map.iter().map(|(index, value)| (index.parse().unwrap_or(u64::MAX), value)).collect();
                items.sort_by_key(|(index, _)| *index);
                items
                    .into_iter()
                    .filter_map(|(_, value)| match value {
                        Param::Str(value) => Some(value.clone()),
                        Param::Map(_) => None,
                    })
                    .collect()
            }
            None => Vec::new(),
        }
    }

    /// The tree as JSON, for logs.
    pub fn to_json(&self) -> Value {
        map_to_json(&self.0)
    }
}

fn map_to_json(map: &BTreeMap<String, Param>) -> Value {
    Value::Object(
        map.iter()
            .map(|(key, value)| {
                let value = match value {
                    Param::Str(value) => Value::String(value.clone()),
                    Param::Map(inner) => map_to_json(inner),
                };
                (key.clone(), value)
            })
            .collect(),
    )
}

/// `a[b][]` → `("a", [Some("b"), None])`; `None` stands for an empty `[]` (append).
fn split_key(key: &str) -> Option<(&str, Vec<Option<&str>>)> {
    let (name, mut rest) = key.split_at(key.find('[').unwrap_or(key.len()));
    if name.is_empty() {
        return None;
    }
    let mut path = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        let segment = &inner[..close];
        path.push((!segment.is_empty()).then_some(segment));
        rest = &inner[close + 1..];
    }
    Some((name, path))
}

fn insert(map: &mut BTreeMap<String, Param>, name: &str, path: &[Option<&str>], value: String) -> Result<(), ()> {
    let Some((next, rest)) = path.split_first() else {
        // A repeated scalar keeps its last value, as Stripe does; a hash cannot become one.
        return match map.insert(name.to_owned(), Param::Str(value)) {
            Some(Param::Map(_)) => Err(()),
            _ => Ok(()),
        };
    };
    let child = map.entry(name.to_owned()).or_insert_with(|| Param::Map(BTreeMap::new()));
    let Param::Map(child) = child else { return Err(()) };
    let segment = match next {
        Some(segment) => (*segment).to_owned(),
        None => child.len().to_string(),
    };
    insert(child, &segment, rest, value)
}

fn decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1).and_then(hex), bytes.get(i + 2).and_then(hex)) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: &u8) -> Option<u8> {
    (*byte as char).to_digit(16).map(|digit| digit as u8)
}

/// Typed access, failing with the error Stripe gives for a bad value.
impl Params {
    /// An integer of at least 1, such as an amount in the currency's smallest unit.
    pub fn positive(&self, name: &str) -> ApiResult<Option<i64>> {
        let Some(raw) = self.str(name) else { return Ok(None) };
        let value: i64 = raw.parse().map_err(|_| ApiError::invalid_integer(name, raw))?;
        if value < 1 {
            return Err(ApiError::invalid_param(name, "This value must be greater than or equal to 1.")
                .code("parameter_invalid_integer"));
        }
        Ok(Some(value))
    }

    pub fn boolean(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.str(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::invalid_param(name, format!("Invalid boolean: {other}"))),
        }
    }

    /// One of `choices`.
    pub fn choice<'c>(&self, name: &str, choices: &[&'c str]) -> ApiResult<Option<&'c str>> {
        let Some(raw) = self.str(name) else { return Ok(None) };
        let choice = choices.iter().find(|choice| **choice == raw).ok_or_else(|| {
            ApiError::invalid_param(name, format!("Invalid {name}: must be one of {}", choices.join(", ")))
        })?;
        Ok(Some(*choice))
    }

    /// Logs the parameters an endpoint accepts without acting on them (Stripe would act, or
    /// refuse unknown ones with `parameter_unknown`).
    pub fn warn_unmodelled(&self, endpoint: &str, modelled: &[&str]) {
        for name in self.names().filter(|name| !modelled.contains(name)) {
            tracing::warn!(endpoint, param = name, "accepted but not modelled by the stand-in");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_nest_and_lists_keep_index_order() {
        let params = Params::parse(
            "amount=2000&metadata[payment_id]=p%201&payment_method_types[1]=sepa_debit&payment_method_types[0]=card\
             &metadata%5Bnote%5D=a+b&expand[]=x&expand[]=y",
        )
        .unwrap();
        assert_eq!(params.str("amount"), Some("2000"));
        assert_eq!(params.map("metadata").get("payment_id").map(String::as_str), Some("p 1"));
        assert_eq!(params.map("metadata").get("note").map(String::as_str), Some("a b"));
        assert_eq!(params.list("payment_method_types"), ["card", "sepa_debit"]);
        assert_eq!(params.list("expand"), ["x", "y"]);
    }

    #[test]
    fn pair_order_does_not_change_the_tree() {
        assert_eq!(Params::parse("a=1&m[x]=2&m[y]=3").unwrap(), Params::parse("m[y]=3&a=1&m[x]=2").unwrap());
    }

    #[test]
    fn a_value_and_a_hash_under_one_name_is_an_error() {
        assert!(matches!(Params::parse("m=1&m[x]=2"), Err(FormError::Conflict(_))));
        assert!(matches!(Params::parse("m[x]=2&m=1"), Err(FormError::Conflict(_))));
        assert!(matches!(Params::parse("m[x=2"), Err(FormError::BadName(_))));
        assert!(matches!(Params::parse("[x]=2"), Err(FormError::BadName(_))));
    }

    #[test]
    fn a_broken_percent_escape_is_kept_literally() {
        assert_eq!(Params::parse("d=100%&e=%zz&f=%4").unwrap().str("d"), Some("100%"));
        assert_eq!(Params::parse("e=%zz").unwrap().str("e"), Some("%zz"));
        assert_eq!(Params::parse("f=%4").unwrap().str("f"), Some("%4"));
    }
}
