//! Domain types: parsed once at the edge, trusted everywhere after.

mod ids;
mod user;
mod validation;

pub use ids::{BookingId, PaymentId, PropertyId, ReviewId, UserId};
pub use user::{Email, Password, PersonName, PhoneNumber, Role};
pub use validation::{FieldError, ValidationErrors};
