//! The query root and the fields that join one object to another. Objects
//! are the REST bodies themselves, so both APIs show the same data.

use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject, connection::Connection};
use chrono::{DateTime, Utc};
use shared::{
    bookings::{self, BookingFilter},
    domain::{BookingId, PaymentId, PropertyId, ReviewId, StayDates, UserId, ValidationErrors},
    pagination::{CursorTime, Page, PageLimit, decode_cursor, encode_cursor},
    payments,
    policy::Actor,
    properties::{RawSearch, SearchCursor},
    reviews, users,
};
use uuid::Uuid;

use super::{
    Caller, load_failed,
    loaders::{BookedKey, Loaders, ReviewsKey},
};
use crate::{
    error::ApiError,
    listings,
    routes::{
        bookings::{BookingBody, Side, Status as BookingStatus},
        payments::PaymentBody,
        properties::{PropertyBody, Sort},
        reviews::ReviewBody,
        users::UserBody,
    },
    state::AppState,
    types::Date,
};

pub(super) type Result<T> = async_graphql::Result<T>;

/// Page size of a connection: `first`, 1 to 100 (REST's `limit`).
fn page_limit(first: Option<i32>) -> Result<PageLimit> {
    Ok(PageLimit::parse(first.map(i64::from)).map_err(|e| ApiError::invalid_field("first", e))?)
}

/// A cursor of this list, or a validation error naming `after`.
fn cursor<K: serde::de::DeserializeOwned>(after: Option<&str>) -> Result<Option<K>> {
    after.map(|raw| decode_cursor(raw).map_err(|e| ApiError::invalid_field("after", e).into())).transpose()
}

fn caller(ctx: &Context<'_>) -> Option<Actor> {
    ctx.data_unchecked::<Caller>().0
}

/// The signed-in caller, or `UNAUTHENTICATED`.
pub(super) fn signed_in(ctx: &Context<'_>) -> Result<Actor> {
    caller(ctx).ok_or_else(|| ApiError::unauthorized("Sign in: send `Authorization: Bearer <access token>`.").into())
}

fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

/// A Relay connection of a page whose rows each carry their own cursor.
fn connection<T, N: async_graphql::OutputType>(
    page: Page<T>,
    after_given: bool,
    cursor_of: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let mut connection = Connection::new(after_given, page.next_cursor.is_some());
    connection
        .edges
        .extend(page.items.into_iter().map(|row| async_graphql::connection::Edge::new(cursor_of(&row), node(row))));
    connection
}

/// What anyone may see of an account.
#[derive(SimpleObject)]
pub struct Profile {
    id: Uuid,
    first_name: String,
    /// When the account was created.
    member_since: DateTime<Utc>,
}

impl From<users::Profile> for Profile {
    fn from(p: users::Profile) -> Self {
        Self { id: p.id.0, first_name: p.first_name, member_since: p.created_at }
    }
}

/// Nights taken by a holding booking (pending and unexpired, or confirmed):
/// `[checkIn, checkOut)`.
#[derive(SimpleObject)]
pub struct BookedRange {
    check_in: Date,
    check_out: Date,
}

/// Search filters; they combine. `checkIn` and `checkOut` together keep only
/// properties free for those nights.
#[derive(InputObject, Default)]
pub struct PropertyFilter {
    /// City, case-insensitive.
    #[graphql(validator(max_length = 100))]
    city: Option<String>,
    /// Country, case-insensitive.
    #[graphql(validator(max_length = 100))]
    country: Option<String>,
    /// Lowest nightly price, minor units.
    min_price: Option<i64>,
    /// Highest nightly price, minor units.
    max_price: Option<i64>,
    /// Guests the property must take.
    guests: Option<i32>,
    /// Every one of these amenities.
    #[graphql(validator(max_items = 20))]
    amenities: Option<Vec<String>>,
    /// Free text over name and description (web search syntax).
    #[graphql(validator(max_length = 200))]
    q: Option<String>,
    check_in: Option<Date>,
    check_out: Option<Date>,
    host_id: Option<Uuid>,
}

/// Which of the caller's bookings to list.
#[derive(InputObject, Default)]
pub struct BookingListFilter {
    /// Only stays the caller booked (`GUEST`) or hosts (`HOST`).
    role: Option<Side>,
    status: Option<BookingStatus>,
    property_id: Option<Uuid>,
    /// Only stays overlapping `[from, to)` (give both).
    from: Option<Date>,
    to: Option<Date>,
}

/// Longest window `availability` answers for.
const MAX_AVAILABILITY_DAYS: i64 = 366;

pub struct Query;

#[Object]
impl Query {
    /// Listed properties matching `filter`, in `sort` order (default
    /// `NEWEST`); `first` 1 to 100 (default 20), `after` an `endCursor`.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn properties(
        &self,
        ctx: &Context<'_>,
        filter: Option<PropertyFilter>,
        sort: Option<Sort>,
        first: Option<i32>,
        #[graphql(validator(max_length = 512))] after: Option<String>,
    ) -> Result<Connection<String, PropertyBody>> {
        let filter = filter.unwrap_or_default();
        let after_given = after.is_some();
        let request = RawSearch {
            city: filter.city,
            country: filter.country,
            min_price: filter.min_price,
            max_price: filter.max_price,
            guests: filter.guests.map(i64::from),
            amenities: filter.amenities.unwrap_or_default(),
            text: filter.q,
            check_in: filter.check_in.map(|d| d.0),
            check_out: filter.check_out.map(|d| d.0),
            host_id: filter.host_id.map(UserId),
            order: sort.map(Into::into),
            limit: first.map(i64::from),
            cursor: after,
        }
        .parse()
        .map_err(ApiError::from)?;
        let state = ctx.data_unchecked::<AppState>();
        let page = listings::search(state, &request).await?;
        let order = request.order;
        Ok(connection(page, after_given, |p| encode_cursor(&SearchCursor::after(order, p)), PropertyBody::from))
    }

    /// A property: anyone's while listed; once removed, its host's, its
    /// guests' and admins'.
    async fn property(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<PropertyBody>> {
        let state = ctx.data_unchecked::<AppState>();
        Ok(Some(listings::detail(state, caller(ctx), PropertyId(id)).await?.into_body()?))
    }

    /// The signed-in caller's account.
    async fn me(&self, ctx: &Context<'_>) -> Result<UserBody> {
        let actor = signed_in(ctx)?;
        let state = ctx.data_unchecked::<AppState>();
        let user = users::find(&state.db, actor.user_id).await.map_err(ApiError::from)?;
        Ok(user.ok_or_else(|| ApiError::not_found("user"))?.into())
    }

    /// A booking: its guest's, its host's or an admin's.
    async fn booking(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<BookingBody>> {
        let actor = signed_in(ctx)?;
        let state = ctx.data_unchecked::<AppState>();
        let booking = bookings::visible(&state.db, actor, BookingId(id)).await.map_err(ApiError::from)?;
        Ok(Some(BookingBody::new(booking, Utc::now())))
    }

    /// A payment: the booking's guest's, host's or an admin's.
    async fn payment(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<PaymentBody>> {
        let actor = signed_in(ctx)?;
        let state = ctx.data_unchecked::<AppState>();
        let payment = payments::visible(&state.db, actor, PaymentId(id)).await.map_err(ApiError::from)?;
        Ok(Some(payment.into()))
    }

    /// Reviews, of one property or by one author, newest first. Public.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        property_id: Option<Uuid>,
        author_id: Option<Uuid>,
        first: Option<i32>,
        #[graphql(validator(max_length = 512))] after: Option<String>,
    ) -> Result<Connection<String, ReviewBody>> {
        let limit = page_limit(first)?;
        let after_given = after.is_some();
        let after: Option<reviews::ReviewCursor> = cursor(after.as_deref())?;
        let state = ctx.data_unchecked::<AppState>();
        let rows = reviews::list(&state.read_db, property_id.map(PropertyId), author_id.map(UserId), after, limit)
            .await
            .map_err(ApiError::from)?;
        let page = Page::from_rows(rows, limit, |r| (CursorTime(r.created_at), r.id));
        Ok(connection(page, after_given, |r| encode_cursor(&(CursorTime(r.created_at), r.id)), ReviewBody::from))
    }

    /// A review. Public.
    async fn review(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<ReviewBody>> {
        let state = ctx.data_unchecked::<AppState>();
        let review = reviews::find(&state.db, ReviewId(id)).await.map_err(ApiError::from)?;
        Ok(Some(review.ok_or_else(|| ApiError::not_found("review"))?.into()))
    }
}

#[ComplexObject]
impl PropertyBody {
    /// The host's public profile.
    async fn host(&self, ctx: &Context<'_>) -> Result<Profile> {
        let profile = loaders(ctx).profiles.load_one(UserId(self.host_id)).await.map_err(load_failed)?;
        Ok(profile.ok_or_else(|| ApiError::internal(anyhow::anyhow!("BUG: host {} has no row", self.host_id)))?.into())
    }

    /// The newest reviews; `first` 1 to 100 (default 5). Page on with the
    /// top-level `reviews(propertyId:, after:)`.
    #[graphql(complexity = "first.unwrap_or(5).clamp(1, 100) as usize * child_complexity")]
    async fn reviews(&self, ctx: &Context<'_>, first: Option<i32>) -> Result<Connection<String, ReviewBody>> {
        let limit = page_limit(Some(first.unwrap_or(5)))?;
        let key = ReviewsKey { property: PropertyId(self.id), limit };
        let rows = loaders(ctx).reviews.load_one(key).await.map_err(load_failed)?.unwrap_or_default();
        let page = Page::from_rows(rows, limit, |r| (CursorTime(r.created_at), r.id));
        Ok(connection(page, false, |r| encode_cursor(&(CursorTime(r.created_at), r.id)), ReviewBody::from))
    }

    /// The nights booked between `from` and `to` (at most 366 days apart),
    /// in date order: the calendar of the listing.
    async fn availability(&self, ctx: &Context<'_>, from: Date, to: Date) -> Result<Vec<BookedRange>> {
        let window = StayDates::new(from.0, to.0).map_err(|e| ApiError::invalid_field("to", e.to_string()))?;
        if window.nights() > MAX_AVAILABILITY_DAYS {
            let message = format!("must be at most {MAX_AVAILABILITY_DAYS} days after from");
            return Err(ApiError::invalid_field("to", message).into());
        }
        let key = BookedKey { property: PropertyId(self.id), window };
        let ranges = loaders(ctx).booked.load_one(key).await.map_err(load_failed)?.unwrap_or_default();
        Ok(ranges
            .into_iter()
            .map(|(check_in, check_out)| BookedRange { check_in: Date(check_in), check_out: Date(check_out) })
            .collect())
    }
}

#[ComplexObject]
impl ReviewBody {
    /// The author's public profile.
    async fn author(&self, ctx: &Context<'_>) -> Result<Profile> {
        let profile = loaders(ctx).profiles.load_one(UserId(self.author_id)).await.map_err(load_failed)?;
        Ok(profile
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("BUG: author {} has no row", self.author_id)))?
            .into())
    }
}

#[ComplexObject]
impl BookingBody {
    /// The booked property (visible to the booking's parties even once removed).
    async fn property(&self, ctx: &Context<'_>) -> Result<PropertyBody> {
        let property = loaders(ctx).properties.load_one(PropertyId(self.property_id)).await.map_err(load_failed)?;
        Ok(property
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("BUG: property {} has no row", self.property_id)))?
            .into())
    }

    /// The latest payment: the one that settled the booking, or the attempt
    /// in flight or last failed; null before any.
    async fn payment(&self, ctx: &Context<'_>) -> Result<Option<PaymentBody>> {
        let payment = loaders(ctx).payments.load_one(BookingId(self.id)).await.map_err(load_failed)?;
        Ok(payment.map(Into::into))
    }

    /// The guest's public profile.
    async fn guest(&self, ctx: &Context<'_>) -> Result<Profile> {
        let profile = loaders(ctx).profiles.load_one(UserId(self.guest_id)).await.map_err(load_failed)?;
        Ok(profile
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("BUG: guest {} has no row", self.guest_id)))?
            .into())
    }
}

#[ComplexObject]
impl UserBody {
    /// This account's bookings, newest first, as `GET /bookings` lists them
    /// for it: as guest, as host, or (for an admin) all.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn bookings(
        &self,
        ctx: &Context<'_>,
        filter: Option<BookingListFilter>,
        first: Option<i32>,
        #[graphql(validator(max_length = 512))] after: Option<String>,
    ) -> Result<Connection<String, BookingBody>> {
        let actor = signed_in(ctx)?;
        if actor.user_id.0 != self.id {
            return Err(ApiError::not_found("user").into());
        }
        let filter = filter.unwrap_or_default();
        let mut errors = ValidationErrors::new();
        let limit = errors.check("first", PageLimit::parse(first.map(i64::from)));
        let after_given = after.is_some();
        let after: Option<bookings::BookingCursor> =
            after.as_deref().and_then(|raw| errors.check("after", decode_cursor(raw)));
        let dates = match (filter.from, filter.to) {
            (None, None) => None,
            (Some(from), Some(to)) => errors.check("to", StayDates::new(from.0, to.0)),
            _ => {
                errors.add("to", "from and to go together");
                None
            }
        };
        errors.into_result().map_err(ApiError::from)?;
        let limit = limit.expect("BUG: checked above");
        let filter = BookingFilter {
            party: filter.role.map(Into::into),
            status: filter.status.map(Into::into),
            property_id: filter.property_id.map(PropertyId),
            dates,
        };
        let state = ctx.data_unchecked::<AppState>();
        let rows = bookings::list(&state.read_db, actor, &filter, after, limit).await.map_err(ApiError::from)?;
        let page = Page::from_rows(rows, limit, |b| (CursorTime(b.created_at), b.id));
        let now = Utc::now();
        Ok(connection(
            page,
            after_given,
            |b| encode_cursor(&(CursorTime(b.created_at), b.id)),
            |b| BookingBody::new(b, now),
        ))
    }
}
