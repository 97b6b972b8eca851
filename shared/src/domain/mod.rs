//! Domain types: parsed once at the edge, trusted everywhere after.

mod booking;
mod ids;
mod money;
mod rating;
mod stay;
mod user;
mod validation;

pub use booking::{BookingStatus, CancellationPolicy, Canceller, refund_due};
pub use ids::{BookingId, PaymentId, PropertyId, ReviewId, UserId};
pub use money::{Currency, Quote};
pub use rating::Rating;
pub use stay::{StayDates, StayError};
pub use user::{Email, Password, PersonName, PhoneNumber, Role};
pub use validation::{FieldError, ValidationErrors};
