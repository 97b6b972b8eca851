//! Reviews of stays, and the rating aggregate of their property, kept in
//! the same transaction so that lists read it without aggregating.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};

use crate::{
    bookings,
    domain::{BookingId, BookingStatus, PropertyId, Rating, ReviewId, UserId},
    error::DomainError,
    pagination::{CursorTime, PageLimit},
    policy::Actor,
};

/// A review as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Review {
    pub id: ReviewId,
    pub property_id: PropertyId,
    pub booking_id: BookingId,
    pub author_id: UserId,
    pub rating: i16,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated comment: at most 5000 characters, trimmed, no control
/// characters but line breaks and tabs (PostgreSQL text cannot even hold NUL).
pub fn parse_comment(raw: &str) -> Result<String, String> {
    let comment = raw.trim();
    if comment.chars().count() > 5000 {
        return Err("must be at most 5000 characters".into());
    }
    if comment.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err("must not contain control characters".into());
    }
    Ok(comment.to_owned())
}

async fn adjust_aggregate(
    conn: &mut PgConnection,
    property: PropertyId,
    rating_delta: i64,
    count_delta: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update properties set rating_sum = rating_sum + $2, review_count = review_count + $3 where property_id = $1",
        property as PropertyId,
        rating_delta,
        count_delta,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Reviews a stay of `actor`'s that has ended; one per booking (the
/// `reviews_one_per_booking` constraint refuses a second).
#[tracing::instrument(skip(conn, comment))]
pub async fn create(
    conn: &mut PgConnection,
    actor: Actor,
    booking_id: BookingId,
    rating: Rating,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<Review, DomainError> {
    let booking = bookings::visible(&mut *conn, actor, booking_id).await?;
    if !actor.may_review(booking.parties()) {
        return Err(DomainError::Forbidden("Only the guest of a stay reviews it.".into()));
    }
    let stayed = matches!(booking.status, BookingStatus::Confirmed | BookingStatus::Completed);
    if !stayed || booking.check_out > now.date_naive() {
        return Err(DomainError::invalid("booking_id", "a stay can be reviewed once it has ended"));
    }
    let review = sqlx::query_as!(
        Review,
        r#"insert into reviews (review_id, property_id, booking_id, author_id, rating, comment)
           values ($1, $2, $3, $4, $5, $6)
           returning review_id as "id: ReviewId", property_id as "property_id: PropertyId",
                     booking_id as "booking_id: BookingId", author_id as "author_id: UserId",
                     rating, comment, created_at, updated_at"#,
        ReviewId::new() as ReviewId,
        booking.property_id as PropertyId,
        booking.id as BookingId,
        actor.user_id as UserId,
        rating.get(),
        comment,
    )
    .fetch_one(&mut *conn)
    .await?;
    adjust_aggregate(conn, review.property_id, i64::from(review.rating), 1).await?;
    Ok(review)
}

#[tracing::instrument(skip(executor))]
pub async fn find(executor: impl PgExecutor<'_>, id: ReviewId) -> sqlx::Result<Option<Review>> {
    sqlx::query_as!(
        Review,
        r#"select review_id as "id: ReviewId", property_id as "property_id: PropertyId",
                  booking_id as "booking_id: BookingId", author_id as "author_id: UserId",
                  rating, comment, created_at, updated_at
           from reviews where review_id = $1"#,
        id as ReviewId,
    )
    .fetch_optional(executor)
    .await
}

async fn find_for_update(conn: &mut PgConnection, id: ReviewId) -> sqlx::Result<Option<Review>> {
    sqlx::query_as!(
        Review,
        r#"select review_id as "id: ReviewId", property_id as "property_id: PropertyId",
                  booking_id as "booking_id: BookingId", author_id as "author_id: UserId",
                  rating, comment, created_at, updated_at
           from reviews where review_id = $1 for update"#,
        id as ReviewId,
    )
    .fetch_optional(conn)
    .await
}

async fn managed(conn: &mut PgConnection, actor: Actor, id: ReviewId) -> Result<Review, DomainError> {
    let review = find_for_update(conn, id).await?.ok_or(DomainError::NotFound("review"))?;
    if !actor.may_manage_review(review.author_id) {
        return Err(DomainError::Forbidden("Only the author or an admin changes a review.".into()));
    }
    Ok(review)
}

/// Changes a review's rating or comment (author or admin).
#[tracing::instrument(skip(conn, comment))]
pub async fn update(
    conn: &mut PgConnection,
    actor: Actor,
    id: ReviewId,
    rating: Option<Rating>,
    comment: Option<&str>,
) -> Result<Review, DomainError> {
    let before = managed(conn, actor, id).await?;
    let review = sqlx::query_as!(
        Review,
        r#"update reviews set rating = coalesce($2, rating), comment = coalesce($3, comment)
           where review_id = $1
           returning review_id as "id: ReviewId", property_id as "property_id: PropertyId",
                     booking_id as "booking_id: BookingId", author_id as "author_id: UserId",
                     rating, comment, created_at, updated_at"#,
        id as ReviewId,
        rating.map(Rating::get),
        comment,
    )
    .fetch_one(&mut *conn)
    .await?;
    adjust_aggregate(conn, review.property_id, i64::from(review.rating - before.rating), 0).await?;
    Ok(review)
}

/// Removes a review (author or admin) and its weight in the aggregate;
/// returns the review removed.
#[tracing::instrument(skip(conn))]
pub async fn delete(conn: &mut PgConnection, actor: Actor, id: ReviewId) -> Result<Review, DomainError> {
    let review = managed(conn, actor, id).await?;
    sqlx::query!("delete from reviews where review_id = $1", id as ReviewId).execute(&mut *conn).await?;
    adjust_aggregate(conn, review.property_id, -i64::from(review.rating), -1).await?;
    Ok(review)
}

/// Sort key of review lists (newest first).
pub type ReviewCursor = (CursorTime, ReviewId);

/// Reviews, optionally of one property or by one author, newest first.
/// Only the filters given reach the SQL, so each form keeps its index
/// whatever plan PostgreSQL settles on for the prepared statement.
#[tracing::instrument(skip(executor))]
pub async fn list(
    executor: impl PgExecutor<'_>,
    property: Option<PropertyId>,
    author: Option<UserId>,
    cursor: Option<ReviewCursor>,
    limit: PageLimit,
) -> sqlx::Result<Vec<Review>> {
    let mut sql = QueryBuilder::<Postgres>::new(
        "select review_id as id, property_id, booking_id, author_id, rating, comment, created_at, updated_at
         from reviews where true",
    );
    if let Some(property) = property {
        sql.push(" and property_id = ").push_bind(property);
    }
    if let Some(author) = author {
        sql.push(" and author_id = ").push_bind(author);
    }
    if let Some((time, id)) = cursor {
        sql.push(" and (created_at, review_id) < (").push_bind(time.0).push(", ").push_bind(id).push(")");
    }
    sql.push(" order by created_at desc, review_id desc limit ").push_bind(limit.fetch());
    sql.build_query_as().fetch_all(executor).await
}

/// The newest reviews of each of `properties`: `limit.fetch()` at most per
/// property (one more than a page, to tell whether more follow), newest
/// first within each. One statement for any number of properties.
#[tracing::instrument(skip(executor, properties), fields(properties = properties.len()))]
pub async fn latest_of_properties(
    executor: impl PgExecutor<'_>,
    properties: &[PropertyId],
    limit: PageLimit,
) -> sqlx::Result<Vec<Review>> {
    sqlx::query_as(
        "select r.review_id as id, r.property_id, r.booking_id, r.author_id, r.rating, r.comment, r.created_at, \
                r.updated_at
         from unnest($1::uuid[]) as k(property_id)
         cross join lateral (
             select * from reviews where property_id = k.property_id
             order by created_at desc, review_id desc limit $2
         ) r
         order by r.property_id, r.created_at desc, r.review_id desc",
    )
    .bind(properties)
    .bind(limit.fetch())
    .fetch_all(executor)
    .await
}
