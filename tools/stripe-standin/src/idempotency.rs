//! `Idempotency-Key` as Stripe documents it (<https://docs.stripe.com/api/idempotent_requests>):
//!
//! - keys apply to `POST` requests and are scoped to the API key;
//! - the first request's status and body are saved and replayed to every retry with the same
//!   key, method, path and parameters (header `Idempotent-Replayed: true`), without acting again;
//! - the same key with another endpoint or other parameters is a 400 `idempotency_error`;
//! - a retry while the first request still runs is a 409 (`idempotency_key_in_use`);
//! - results are saved only once the endpoint began executing: validation errors (4xx
//!   `invalid_request_error`) are not saved and may be retried under the same key; successes,
//!   card declines (402) and server errors (5xx) are saved, "including 500 errors";
//! - keys are pruned once 24 hours old; a reused key after that starts a new request.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use poem::http::StatusCode;

use crate::error::ApiError;
use crate::form::Params;

/// How long a key is kept.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// What a request under a key asked for; a retry must ask for exactly the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub method: String,
    pub path: String,
    pub params: Params,
}

/// A response saved under a key.
#[derive(Debug, Clone)]
pub struct Saved {
    pub status: StatusCode,
    pub body: String,
    pub request_id: String,
}

/// The outcome of presenting a key.
#[derive(Debug)]
pub enum Claim {
    /// First use: act, then [`Idempotency::finish`].
    Proceed,
    Replay(Saved),
    Refused(ApiError),
}

#[derive(Debug)]
enum Entry {
    InFlight(Fingerprint),
    Done(Fingerprint, Saved),
}

/// Keys by (API key, idempotency key), with the time of their first use.
#[derive(Debug, Default)]
pub struct Idempotency {
    entries: HashMap<(String, String), (Instant, Entry)>,
}

/// Whether Stripe saves a response with this status: the endpoint began executing.
pub fn is_saved(status: StatusCode) -> bool {
    status.is_success() || status == StatusCode::PAYMENT_REQUIRED || status.is_server_error()
}

impl Idempotency {
    pub fn claim(&mut self, scope: &str, key: &str, fingerprint: Fingerprint, now: Instant) -> Claim {
        self.entries.retain(|_, (first_used, entry)| {
            matches!(entry, Entry::InFlight(_)) || now.saturating_duration_since(*first_used) < RETENTION
        });
        let id = (scope.to_owned(), key.to_owned());
        let Some((_, entry)) = self.entries.get(&id) else {
            self.entries.insert(id, (now, Entry::InFlight(fingerprint)));
            return Claim::Proceed;
        };
        let (first, saved) = match entry {
            Entry::InFlight(first) => (first, None),
            Entry::Done(first, saved) => (first, Some(saved)),
        };
        if let Some(error) = mismatch(key, first, &fingerprint) {
            return Claim::Refused(error);
        }
        match saved {
            Some(saved) => Claim::Replay(saved.clone()),
            None => Claim::Refused(
                ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_error",
                    format!(
                        "There is currently another in-progress request using this Idempotent Key (that probably \
                         means you submitted twice, and the other request is still going through): {key}. Please \
                         try again later."
                    ),
                )
                .code("idempotency_key_in_use"),
            ),
        }
    }

    /// Saves the response of a claimed key, or releases the key when `saved` is `None`.
    pub fn finish(&mut self, scope: &str, key: &str, saved: Option<Saved>) {
        let id = (scope.to_owned(), key.to_owned());
        match saved {
            None => {
                self.entries.remove(&id);
            }
            Some(saved) => {
                if let Some((_, entry)) = self.entries.get_mut(&id)
                    && let Entry::InFlight(first) = entry
                {
                    *entry = Entry::Done(first.clone(), saved);
                }
            }
        }
    }
}

fn mismatch(key: &str, first: &Fingerprint, now: &Fingerprint) -> Option<ApiError> {
    let message = if (&first.method, &first.path) != (&now.method, &now.path) {
        format!(
            "Keys for idempotent requests can only be used for the same endpoint they were first used for \
             ('{} {}' vs '{} {}'). Try using a key other than '{key}' if you meant to execute a different request.",
            now.method, now.path, first.method, first.path
        )
    } else if first.params != now.params {
        format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. \
             Try using a key other than '{key}' if you meant to execute a different request."
        )
    } else {
        return None;
    };
    Some(ApiError::new(StatusCode::BAD_REQUEST, "idempotency_error", message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(body: &str) -> Fingerprint {
        Fingerprint { method: "POST".into(), path: "/v1/refunds".into(), params: Params::parse(body).unwrap() }
    }

    fn saved() -> Saved {
        Saved { status: StatusCode::OK, body: "{}".into(), request_id: "req_1".into() }
    }

    #[test]
    fn a_key_is_kept_24_hours_and_scoped_to_the_api_key() {
        let mut keys = Idempotency::default();
        let t0 = Instant::now();
        assert!(matches!(keys.claim("sk_a", "k", fingerprint("amount=1"), t0), Claim::Proceed));
        assert!(matches!(keys.claim("sk_a", "k", fingerprint("amount=1"), t0), Claim::Refused(e) if e.status == 409));
        assert!(matches!(keys.claim("sk_b", "k", fingerprint("amount=1"), t0), Claim::Proceed));
        keys.finish("sk_a", "k", Some(saved()));
        let later = t0 + RETENTION - Duration::from_secs(1);
        assert!(matches!(keys.claim("sk_a", "k", fingerprint("amount=1"), later), Claim::Replay(_)));
        assert!(
            matches!(keys.claim("sk_a", "k", fingerprint("amount=2"), later), Claim::Refused(e) if e.status == 400)
        );
        assert!(matches!(keys.claim("sk_a", "k", fingerprint("amount=2"), t0 + RETENTION), Claim::Proceed));
    }

    #[test]
    fn an_unsaved_result_releases_the_key() {
        let mut keys = Idempotency::default();
        let t0 = Instant::now();
        assert!(matches!(keys.claim("sk", "k", fingerprint("amount=x"), t0), Claim::Proceed));
        keys.finish("sk", "k", None);
        assert!(matches!(keys.claim("sk", "k", fingerprint("amount=1"), t0), Claim::Proceed));
    }
}
