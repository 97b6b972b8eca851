use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::StayDates;

/// Where a booking is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "booking_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    /// A hold on the dates, awaiting payment until `expires_at`.
    Pending,
    /// Paid.
    Confirmed,
    /// The stay is over.
    Completed,
    Cancelled,
    /// The hold timed out unpaid.
    Expired,
}

impl BookingStatus {
    /// Pending and confirmed bookings hold their dates.
    pub fn holds_dates(self) -> bool {
        matches!(self, Self::Pending | Self::Confirmed)
    }
}

/// How much of a stay's price a guest gets back on cancelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "cancellation_policy", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum CancellationPolicy {
    /// Full refund until 24 hours before check-in, nothing after.
    Flexible,
    /// Full refund until 5 days before check-in, half after.
    Moderate,
    /// Half refunded until 7 days before check-in, nothing after.
    Strict,
}

impl CancellationPolicy {
    /// The refund, in minor units, of a paid `total` when the guest cancels
    /// `stay` at `now`. Halves round down. Once check-in has passed the
    /// late-cancellation rule still applies.
    pub fn guest_refund(self, total: i64, stay: &StayDates, now: DateTime<Utc>) -> i64 {
        let left = stay.until_check_in(now);
        match self {
            Self::Flexible if left >= Duration::hours(24) => total,
            Self::Flexible => 0,
            Self::Moderate if left >= Duration::days(5) => total,
            Self::Moderate => total / 2,
            Self::Strict if left >= Duration::days(7) => total / 2,
            Self::Strict => 0,
        }
    }
}

/// Who cancels a booking, which decides the refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canceller {
    Guest,
    /// The host or an admin: the guest is refused its stay, so it gets
    /// everything back whatever the policy.
    HostOrAdmin,
}

/// The refund due when `by` cancels a booking in `status` that cost `total`.
/// A pending booking was never paid: nothing to refund.
pub fn refund_due(
    status: BookingStatus,
    by: Canceller,
    policy: CancellationPolicy,
    total: i64,
    stay: &StayDates,
    now: DateTime<Utc>,
) -> i64 {
    match (status, by) {
        (BookingStatus::Confirmed, Canceller::HostOrAdmin) => total,
        (BookingStatus::Confirmed, Canceller::Guest) => policy.guest_refund(total, stay, now),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stay() -> StayDates {
        StayDates::new("2030-06-10".parse().unwrap(), "2030-06-12".parse().unwrap()).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn each_policy_refunds_by_its_deadline() {
        use CancellationPolicy::*;
        // Check-in is 2030-06-10T15:00Z.
        let cases = [
            (Flexible, "2030-06-09T15:00:00Z", 1000),
            (Flexible, "2030-06-09T15:00:01Z", 0),
            (Moderate, "2030-06-05T15:00:00Z", 1000),
            (Moderate, "2030-06-05T15:00:01Z", 500),
            (Moderate, "2030-06-11T00:00:00Z", 500),
            (Strict, "2030-06-03T15:00:00Z", 500),
            (Strict, "2030-06-03T15:00:01Z", 0),
        ];
        for (policy, now, refund) in cases {
            assert_eq!(policy.guest_refund(1000, &stay(), at(now)), refund, "{policy:?} at {now}");
        }
        assert_eq!(Moderate.guest_refund(1001, &stay(), at("2030-06-09T00:00:00Z")), 500, "halves round down");
    }

    #[test]
    fn hosts_refund_in_full_and_unpaid_holds_refund_nothing() {
        let now = at("2030-06-10T14:00:00Z");
        let refund = |status, by| refund_due(status, by, CancellationPolicy::Strict, 1000, &stay(), now);
        assert_eq!(refund(BookingStatus::Confirmed, Canceller::HostOrAdmin), 1000);
        assert_eq!(refund(BookingStatus::Confirmed, Canceller::Guest), 0);
        assert_eq!(refund(BookingStatus::Pending, Canceller::Guest), 0);
        assert_eq!(refund(BookingStatus::Pending, Canceller::HostOrAdmin), 0);
    }
}
