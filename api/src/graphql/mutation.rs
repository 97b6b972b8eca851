//! The common writes, for clients that speak only GraphQL. Each is the
//! REST operation's shared function in a transaction, followed by the same
//! after-commit effects (`AppState::bookings_changed`, `reviews_changed`).

use async_graphql::{Context, InputObject, Object};
use chrono::Utc;
use shared::{
    bookings::{self, BookingRequest},
    domain::{BookingId, PropertyId},
    reviews,
};
use uuid::Uuid;

use super::query::{Result, signed_in};
use crate::{
    error::ApiError,
    request_id::RequestId,
    routes::{bookings::BookingBody, reviews::ReviewBody},
    state::AppState,
    types::Date,
};

/// A stay to hold: priced by the server, held 30 minutes for payment.
#[derive(InputObject)]
pub struct CreateBookingInput {
    property_id: Uuid,
    /// First night; today or later.
    check_in: Date,
    /// Departure day; after `checkIn`, at most 90 nights later.
    check_out: Date,
    /// 1 to 100, at most what the property takes.
    guests: i32,
}

/// A review of one's ended stay.
#[derive(InputObject)]
pub struct CreateReviewInput {
    booking_id: Uuid,
    /// 1 to 5.
    rating: i32,
    /// At most 5,000 characters.
    comment: Option<String>,
}

pub struct Mutation;

fn request_id<'a>(ctx: &Context<'a>) -> Option<&'a str> {
    ctx.data_opt::<RequestId>().map(|id| id.0.as_str())
}

#[Object]
impl Mutation {
    /// Hold dates at a property (`POST /bookings`). Overlapping an active
    /// booking is a `CONFLICT`. Without an idempotency key: a retried
    /// request for the same dates meets the first one's hold and conflicts.
    async fn create_booking(&self, ctx: &Context<'_>, input: CreateBookingInput) -> Result<BookingBody> {
        let actor = signed_in(ctx)?;
        let state = ctx.data_unchecked::<AppState>();
        let request = BookingRequest {
            property_id: PropertyId(input.property_id),
            check_in: input.check_in.0,
            check_out: input.check_out.0,
            guests: i64::from(input.guests),
        };
        let now = Utc::now();
        let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
        let booking = bookings::create(&mut conn, &state.terms, actor.user_id, &request, now, request_id(ctx))
            .await
            .map_err(ApiError::from)?;
        state.bookings_changed().await;
        tracing::info!(booking_id = %booking.id, "booking created");
        Ok(BookingBody::new(booking, now))
    }

    /// Cancel a booking (`DELETE /bookings/{id}`): refunded by its policy
    /// when paid.
    async fn cancel_booking(&self, ctx: &Context<'_>, id: Uuid) -> Result<BookingBody> {
        let actor = signed_in(ctx)?;
        let state = ctx.data_unchecked::<AppState>();
        let now = Utc::now();
        let mut tx = state.db.begin().await.map_err(ApiError::from)?;
        let booking =
            bookings::cancel(&mut tx, actor, BookingId(id), now, request_id(ctx)).await.map_err(ApiError::from)?;
        tx.commit().await.map_err(ApiError::from)?;
        state.bookings_changed().await;
        tracing::info!(booking_id = %booking.id, refund = booking.refund_amount, "booking cancelled");
        Ok(BookingBody::new(booking, now))
    }

    /// Review an ended stay of one's own (`POST /reviews`); one per booking.
    async fn create_review(&self, ctx: &Context<'_>, input: CreateReviewInput) -> Result<ReviewBody> {
        let actor = signed_in(ctx)?;
        let state = ctx.data_unchecked::<AppState>();
        let (rating, comment) =
            crate::routes::reviews::parse(Some(i64::from(input.rating)), Some(input.comment.as_deref().unwrap_or("")))
                .map_err(ApiError::from)?;
        let mut tx = state.db.begin().await.map_err(ApiError::from)?;
        let review = reviews::create(
            &mut tx,
            actor,
            BookingId(input.booking_id),
            rating.expect("BUG: a rating was given"),
            comment.as_deref().unwrap_or(""),
            Utc::now(),
        )
        .await
        .map_err(ApiError::from)?;
        tx.commit().await.map_err(ApiError::from)?;
        state.reviews_changed(review.property_id).await;
        Ok(review.into())
    }
}
