use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use shared::{
    bookings::{self, Booking, BookingChange, BookingFilter, BookingRequest},
    domain::{BookingId, BookingStatus, PropertyId, StayDates, UserId, ValidationErrors},
    jobs::Party,
    pagination::{CursorTime, Page, PageLimit, decode_cursor},
};
use uuid::Uuid;

use crate::{
    auth::{BearerAuth, SignedBearer, open_account_role},
    error::{ApiError, Result},
    idempotency::{self, Begun},
    request_id::RequestId,
    routes::{Tag, properties::Policy},
    state::AppState,
    types::Date,
};

pub struct BookingsApi {
    pub state: AppState,
}

/// Where a booking is in its life.
#[derive(Enum, async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "BookingStatus", rename_all = "lowercase")]
#[graphql(name = "BookingStatus")]
pub(crate) enum Status {
    /// A hold on the dates awaiting payment until `expires_at`.
    Pending,
    /// Paid.
    Confirmed,
    /// The stay is over.
    Completed,
    Cancelled,
    /// The hold timed out unpaid.
    Expired,
}

impl From<BookingStatus> for Status {
    fn from(status: BookingStatus) -> Self {
        match status {
            BookingStatus::Pending => Self::Pending,
            BookingStatus::Confirmed => Self::Confirmed,
            BookingStatus::Completed => Self::Completed,
            BookingStatus::Cancelled => Self::Cancelled,
            BookingStatus::Expired => Self::Expired,
        }
    }
}

impl From<Status> for BookingStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Pending => Self::Pending,
            Status::Confirmed => Self::Confirmed,
            Status::Completed => Self::Completed,
            Status::Cancelled => Self::Cancelled,
            Status::Expired => Self::Expired,
        }
    }
}

/// Which side of the caller's bookings to list.
#[derive(Enum, async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "BookingRole", rename_all = "lowercase")]
#[graphql(name = "BookingRole")]
pub(crate) enum Side {
    /// Stays the caller booked.
    Guest,
    /// Stays at the caller's properties.
    Host,
}

impl From<Side> for Party {
    fn from(side: Side) -> Self {
        match side {
            Side::Guest => Self::Guest,
            Side::Host => Self::Host,
        }
    }
}

/// A booking. Money is in minor units of `currency`: `total_price` =
/// `nightly_subtotal` (nights × `nightly_price`) + `cleaning_fee` +
/// `service_fee` (14% of the subtotal, rounded half up).
#[derive(Object, async_graphql::SimpleObject)]
#[oai(rename = "Booking")]
#[graphql(name = "Booking", complex)]
pub(crate) struct BookingBody {
    pub(crate) id: Uuid,
    pub(crate) property_id: Uuid,
    pub(crate) guest_id: Uuid,
    pub(crate) host_id: Uuid,
    pub(crate) check_in: Date,
    pub(crate) check_out: Date,
    pub(crate) guests: i32,
    pub(crate) nights: i32,
    pub(crate) nightly_price: i64,
    pub(crate) nightly_subtotal: i64,
    pub(crate) cleaning_fee: i64,
    pub(crate) service_fee: i64,
    pub(crate) total_price: i64,
    pub(crate) currency: String,
    /// As of this response: a pending hold past `expires_at` reads `expired`.
    pub(crate) status: Status,
    /// The property's policy when the booking was made.
    pub(crate) cancellation_policy: Policy,
    /// When an unpaid hold lapses.
    #[oai(nullable)]
    pub(crate) expires_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub(crate) cancelled_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub(crate) cancelled_by: Option<Uuid>,
    /// Refund due by the cancellation policy, once cancelled.
    #[oai(nullable)]
    pub(crate) refund_amount: Option<i64>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl BookingBody {
    pub(crate) fn new(b: Booking, now: DateTime<Utc>) -> Self {
        Self {
            status: b.status_at(now).into(),
            id: b.id.0,
            property_id: b.property_id.0,
            guest_id: b.guest_id.0,
            host_id: b.host_id.0,
            check_in: Date(b.check_in),
            check_out: Date(b.check_out),
            guests: b.guests,
            nights: b.nights,
            nightly_price: b.nightly_price,
            nightly_subtotal: b.nightly_subtotal,
            cleaning_fee: b.cleaning_fee,
            service_fee: b.service_fee,
            total_price: b.total_price,
            currency: b.currency,
            cancellation_policy: b.cancellation_policy.into(),
            expires_at: b.expires_at,
            cancelled_at: b.cancelled_at,
            cancelled_by: b.cancelled_by.map(|u| u.0),
            refund_amount: b.refund_amount,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

/// A page of bookings.
#[derive(Object)]
struct BookingPage {
    items: Vec<BookingBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

/// A booking request; the price is computed by the server.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct CreateBookingRequest {
    property_id: Uuid,
    /// First night; today or later.
    check_in: Date,
    /// Departure day; after `check_in`, at most 90 nights later.
    check_out: Date,
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    guests: i64,
}

/// Changes to a pending booking; a field left out keeps its value.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct UpdateBookingRequest {
    #[oai(nullable)]
    check_in: Option<Date>,
    #[oai(nullable)]
    check_out: Option<Date>,
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "100")))]
    guests: Option<i64>,
}

#[derive(ApiResponse)]
enum CreateBookingResponse {
    /// The dates are held until `expires_at`; pay to confirm.
    #[oai(status = 201)]
    Created(
        Json<BookingBody>,
        #[oai(header = "Location")] String,
        /// `true` when this answers a retry with the same `Idempotency-Key`.
        #[oai(header = "Idempotent-Replayed")]
        Option<String>,
    ),
}

impl BookingsApi {
    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    /// `POST /bookings` for `guest`, whose account is checked by the hold's
    /// statement unless the caller has read it.
    async fn book(
        &self,
        guest: UserId,
        body: CreateBookingRequest,
        idempotency_key: Option<String>,
        request_id: &str,
    ) -> Result<CreateBookingResponse> {
        let key = idempotency::parse_key(idempotency_key)?;
        let request = BookingRequest {
            property_id: PropertyId(body.property_id),
            check_in: body.check_in.0,
            check_out: body.check_out.0,
            guests: body.guests,
        };
        let request_id = Some(request_id);
        let body = if key.is_none() {
            // `create` is atomic by itself: no transaction to wrap it in.
            let mut conn = self.state.db.acquire().await?;
            let now = Self::now();
            BookingBody::new(
                bookings::create(&mut conn, &self.state.terms, guest, &request, now, request_id).await?,
                now,
            )
        } else {
            let mut guard = match idempotency::begin(&self.state.db, guest, key, "POST /bookings", &body).await? {
                Begun::Replay(stored) => {
                    let booking: BookingBody = idempotency::replayed(stored)?;
                    let location = format!("/bookings/{}", booking.id);
                    return Ok(CreateBookingResponse::Created(Json(booking), location, Some("true".into())));
                }
                Begun::Fresh(guard) => guard,
            };
            // After the key is claimed, which may have waited for a retry.
            let now = Self::now();
            let body = BookingBody::new(
                bookings::create(&mut guard.tx, &self.state.terms, guest, &request, now, request_id).await?,
                now,
            );
            guard.finish(201, &body).await?;
            body
        };
        self.state.bookings_changed().await;
        tracing::info!(booking_id = %body.id, "booking created");
        let location = format!("/bookings/{}", body.id);
        Ok(CreateBookingResponse::Created(Json(body), location, None))
    }
}

#[OpenApi(tag = "Tag::Bookings")]
impl BookingsApi {
    /// Book a stay (a hold awaiting payment)
    ///
    /// Any signed-in user but the property's host. The price is computed
    /// here; overlapping an active booking is a 409. Send an
    /// `Idempotency-Key` to retry safely: the same key and body return the
    /// first response.
    #[oai(path = "/bookings", method = "post", operation_id = "createBooking")]
    async fn create(
        &self,
        auth: SignedBearer,
        body: Json<CreateBookingRequest>,
        /// Makes retries safe: 1 to 255 visible ASCII characters, unique per request.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        request_id: Data<&RequestId>,
    ) -> Result<CreateBookingResponse> {
        let guest = auth.0;
        // A replay answers only an open account, as every route does.
        let keyed = idempotency_key.0.is_some();
        if keyed {
            open_account_role(&self.state, guest).await?;
        }
        match self.book(guest, body.0, idempotency_key.0, &request_id.0.0).await {
            // The account was not read yet: a closed one answers 401
            // whatever else is wrong with the request, as on every route.
            // Not after a failure (a 503 while PostgreSQL is away would
            // wait for a connection a second time).
            Err(
                error @ (ApiError::BadRequest(..)
                | ApiError::Forbidden(..)
                | ApiError::NotFound(..)
                | ApiError::Conflict(..)
                | ApiError::Unprocessable(..)),
            ) if !keyed => {
                open_account_role(&self.state, guest).await?;
                Err(error)
            }
            answer => answer,
        }
    }

    /// The caller's bookings
    ///
    /// A guest sees its own stays, a host those at its properties, an admin
    /// all. Newest first.
    #[oai(path = "/bookings", method = "get", operation_id = "listBookings")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only stays the caller booked (`guest`) or hosts (`host`).
        role: Query<Option<Side>>,
        status: Query<Option<Status>>,
        property_id: Query<Option<Uuid>>,
        /// Only stays overlapping `[from, to)` (give both).
        from: Query<Option<Date>>,
        to: Query<Option<Date>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> Result<Json<BookingPage>> {
        let mut errors = ValidationErrors::new();
        let limit = errors.check("limit", PageLimit::parse(limit.0));
        let after = cursor.0.as_deref().and_then(|c| errors.check("cursor", decode_cursor(c)));
        let dates = match (from.0, to.0) {
            (None, None) => None,
            (Some(from), Some(to)) => errors.check("to", StayDates::new(from.0, to.0)),
            _ => {
                errors.add("to", "from and to go together");
                None
            }
        };
        errors.into_result()?;
        let filter = BookingFilter {
            party: role.0.map(Into::into),
            status: status.0.map(Into::into),
            property_id: property_id.0.map(PropertyId),
            dates,
        };
        let limit = limit.expect("checked");
        let rows = bookings::list(&self.state.read_db, auth.0, &filter, after, limit).await?;
        let now = Self::now();
        let page = Page::from_rows(rows, limit, |b| (CursorTime(b.created_at), b.id)).map(|b| BookingBody::new(b, now));
        Ok(Json(BookingPage { items: page.items, next_cursor: page.next_cursor }))
    }

    /// A booking (its guest, its host or an admin)
    #[oai(path = "/bookings/:booking_id", method = "get", operation_id = "getBooking")]
    async fn get(&self, auth: BearerAuth, booking_id: Path<Uuid>) -> Result<Json<BookingBody>> {
        let booking = bookings::visible(&self.state.db, auth.0, BookingId(booking_id.0)).await?;
        Ok(Json(BookingBody::new(booking, Self::now())))
    }

    /// Change the dates or guests of a pending booking (its guest)
    ///
    /// The stay is priced again at the property's current rates.
    #[oai(path = "/bookings/:booking_id", method = "put", operation_id = "updateBooking")]
    async fn update(
        &self,
        auth: BearerAuth,
        booking_id: Path<Uuid>,
        body: Json<UpdateBookingRequest>,
        request_id: Data<&RequestId>,
    ) -> Result<Json<BookingBody>> {
        let change = BookingChange {
            check_in: body.0.check_in.map(|d| d.0),
            check_out: body.0.check_out.map(|d| d.0),
            guests: body.0.guests,
        };
        let now = Self::now();
        let mut tx = self.state.db.begin().await?;
        let booking =
            bookings::change(&mut tx, auth.0, BookingId(booking_id.0), &change, now, Some(&request_id.0.0)).await?;
        tx.commit().await?;
        self.state.bookings_changed().await;
        Ok(Json(BookingBody::new(booking, now)))
    }

    /// Cancel a booking (its guest, its host or an admin)
    ///
    /// The booking becomes `cancelled` (it is never deleted) and its dates
    /// free up. For a paid booking `refund_amount` is what the cancellation
    /// policy grants when the guest cancels, everything when the host does.
    #[oai(path = "/bookings/:booking_id", method = "delete", operation_id = "cancelBooking")]
    async fn cancel(
        &self,
        auth: BearerAuth,
        booking_id: Path<Uuid>,
        request_id: Data<&RequestId>,
    ) -> Result<Json<BookingBody>> {
        let now = Self::now();
        let mut tx = self.state.db.begin().await?;
        let booking = bookings::cancel(&mut tx, auth.0, BookingId(booking_id.0), now, Some(&request_id.0.0)).await?;
        tx.commit().await?;
        self.state.bookings_changed().await;
        tracing::info!(booking_id = %booking.id, refund = booking.refund_amount, "booking cancelled");
        Ok(Json(BookingBody::new(booking, now)))
    }
}
