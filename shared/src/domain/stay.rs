use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// A stay's dates: check-out strictly after check-in (half-open range of
/// nights), at most [`StayDates::MAX_NIGHTS`] long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StayDates {
    check_in: NaiveDate,
    check_out: NaiveDate,
}

/// Why a pair of dates is not a stay one can book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StayError {
    #[error("check_out must be after check_in")]
    NotAfterCheckIn,
    #[error("a stay is at most {} nights", StayDates::MAX_NIGHTS)]
    TooLong,
    #[error("check_in is in the past")]
    InThePast,
    #[error("check_in is more than {} days ahead", StayDates::MAX_DAYS_AHEAD)]
    TooFarAhead,
}

impl StayDates {
    pub const MAX_NIGHTS: i64 = 90;
    pub const MAX_DAYS_AHEAD: i64 = 730;
    /// Check-in time, in UTC, used for cancellation deadlines.
    pub const CHECK_IN_HOUR: u32 = 15;

    /// Any well-ordered range (searches may ask about any dates).
    pub fn new(check_in: NaiveDate, check_out: NaiveDate) -> Result<Self, StayError> {
        if check_out <= check_in {
            return Err(StayError::NotAfterCheckIn);
        }
        Ok(Self { check_in, check_out })
    }

    /// A range one may book on `today`: not in the past, within two years,
    /// at most 90 nights.
    pub fn bookable(check_in: NaiveDate, check_out: NaiveDate, today: NaiveDate) -> Result<Self, StayError> {
        let stay = Self::new(check_in, check_out)?;
        if stay.nights() > Self::MAX_NIGHTS {
            return Err(StayError::TooLong);
        }
        if check_in < today {
            return Err(StayError::InThePast);
        }
        if (check_in - today).num_days() > Self::MAX_DAYS_AHEAD {
            return Err(StayError::TooFarAhead);
        }
        Ok(stay)
    }

    pub fn check_in(&self) -> NaiveDate {
        self.check_in
    }

    pub fn check_out(&self) -> NaiveDate {
        self.check_out
    }

    pub fn nights(&self) -> i64 {
        (self.check_out - self.check_in).num_days()
    }

    /// The moment of check-in (15:00 UTC on the check-in date).
    pub fn check_in_at(&self) -> DateTime<Utc> {
        let time = NaiveTime::from_hms_opt(Self::CHECK_IN_HOUR, 0, 0).expect("BUG: a valid time");
        self.check_in.and_time(time).and_utc()
    }

    /// Time left before check-in at `now` (negative once it passed).
    pub fn until_check_in(&self, now: DateTime<Utc>) -> Duration {
        self.check_in_at() - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_stay_is_half_open_and_counts_nights() {
        let stay = StayDates::new(d("2030-01-01"), d("2030-01-04")).unwrap();
        assert_eq!(stay.nights(), 3);
        assert_eq!(StayDates::new(d("2030-01-04"), d("2030-01-04")), Err(StayError::NotAfterCheckIn));
        assert_eq!(StayDates::new(d("2030-01-05"), d("2030-01-04")), Err(StayError::NotAfterCheckIn));
    }

    #[test]
    fn bookable_stays_start_today_or_later_within_limits() {
        let today = d("2030-01-01");
        assert!(StayDates::bookable(today, d("2030-01-02"), today).is_ok());
        assert_eq!(StayDates::bookable(d("2029-12-31"), d("2030-01-02"), today), Err(StayError::InThePast));
        assert_eq!(StayDates::bookable(today, d("2030-04-02"), today), Err(StayError::TooLong));
        assert!(StayDates::bookable(today, d("2030-04-01"), today).is_ok(), "90 nights");
        assert_eq!(StayDates::bookable(d("2032-01-02"), d("2032-01-03"), today), Err(StayError::TooFarAhead));
    }
}
