//! Batched loading of nested fields: every key a level of the query asks
//! for is gathered and loaded with one statement, so a page costs the same
//! number of queries whatever its size. Loaders live for one request, so
//! nothing they hold outlives it.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};
use chrono::NaiveDate;
use futures::future::BoxFuture;
use shared::{
    domain::{BookingId, PropertyId, StayDates, UserId},
    pagination::PageLimit,
    payments::{self, Payment},
    properties::{self, Property},
    reviews::{self, Review},
    users::{self, Profile},
};
use sqlx::PgPool;
use tracing::Instrument;

/// A failed batch, shared by every field that waited on it.
pub type LoadError = Arc<sqlx::Error>;

/// Loads batches on a task of their own, inside the request's span (its
/// queries log under the request id).
fn loader<T: Send + Sync + 'static>(inner: T) -> DataLoader<T> {
    DataLoader::new(inner, |batch: BoxFuture<'static, ()>| tokio::spawn(batch.instrument(tracing::Span::current())))
}

/// The loaders of one request.
pub struct Loaders {
    pub properties: DataLoader<PropertyLoader>,
    pub profiles: DataLoader<ProfileLoader>,
    pub reviews: DataLoader<ReviewsLoader>,
    pub payments: DataLoader<LatestPaymentLoader>,
    pub booked: DataLoader<BookedRangesLoader>,
}

impl Loaders {
    pub fn new(db: &PgPool) -> Self {
        Self {
            properties: loader(PropertyLoader(db.clone())),
            profiles: loader(ProfileLoader(db.clone())),
            reviews: loader(ReviewsLoader(db.clone())),
            payments: loader(LatestPaymentLoader(db.clone())),
            booked: loader(BookedRangesLoader(db.clone())),
        }
    }
}

/// Properties by id, removed ones included (callers reach them through a
/// booking or check visibility themselves).
pub struct PropertyLoader(PgPool);

impl Loader<PropertyId> for PropertyLoader {
    type Value = Property;
    type Error = LoadError;

    async fn load(&self, ids: &[PropertyId]) -> Result<HashMap<PropertyId, Property>, LoadError> {
        let rows = properties::find_many(&self.0, ids).await?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

/// Public profiles by user id.
pub struct ProfileLoader(PgPool);

impl Loader<UserId> for ProfileLoader {
    type Value = Profile;
    type Error = LoadError;

    async fn load(&self, ids: &[UserId]) -> Result<HashMap<UserId, Profile>, LoadError> {
        let rows = users::profiles(&self.0, ids).await?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

/// The newest reviews of a property, `limit.fetch()` of them at most.
pub struct ReviewsLoader(PgPool);

/// A property and how many of its reviews to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReviewsKey {
    pub property: PropertyId,
    pub limit: PageLimit,
}

impl Loader<ReviewsKey> for ReviewsLoader {
    type Value = Vec<Review>;
    type Error = LoadError;

    async fn load(&self, keys: &[ReviewsKey]) -> Result<HashMap<ReviewsKey, Vec<Review>>, LoadError> {
        let mut found = HashMap::with_capacity(keys.len());
        // One statement per page size asked for (usually one).
        let mut by_limit: HashMap<PageLimit, Vec<PropertyId>> = HashMap::new();
        for key in keys {
            by_limit.entry(key.limit).or_default().push(key.property);
        }
        for (limit, properties) in by_limit {
            for property in &properties {
                found.insert(ReviewsKey { property: *property, limit }, Vec::new());
            }
            for review in reviews::latest_of_properties(&self.0, &properties, limit).await? {
                found.entry(ReviewsKey { property: review.property_id, limit }).or_default().push(review);
            }
        }
        Ok(found)
    }
}

/// The latest payment of a booking.
pub struct LatestPaymentLoader(PgPool);

impl Loader<BookingId> for LatestPaymentLoader {
    type Value = Payment;
    type Error = LoadError;

    async fn load(&self, ids: &[BookingId]) -> Result<HashMap<BookingId, Payment>, LoadError> {
        let rows = payments::latest_of_bookings(&self.0, ids).await?;
        Ok(rows.into_iter().map(|p| (p.booking_id, p)).collect())
    }
}

/// The booked nights of a property within a window.
pub struct BookedRangesLoader(PgPool);

/// A property and the window asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BookedKey {
    pub property: PropertyId,
    pub window: StayDates,
}

impl Loader<BookedKey> for BookedRangesLoader {
    type Value = Vec<(NaiveDate, NaiveDate)>;
    type Error = LoadError;

    async fn load(&self, keys: &[BookedKey]) -> Result<HashMap<BookedKey, Self::Value>, LoadError> {
        let mut found = HashMap::with_capacity(keys.len());
        let mut by_window: HashMap<StayDates, Vec<PropertyId>> = HashMap::new();
        for key in keys {
            by_window.entry(key.window).or_default().push(key.property);
        }
        for (window, properties) in by_window {
            for property in &properties {
                found.insert(BookedKey { property: *property, window }, Vec::new());
            }
            for (property, check_in, check_out) in properties::booked_ranges(&self.0, &properties, window).await? {
                found.entry(BookedKey { property, window }).or_default().push((check_in, check_out));
            }
        }
        Ok(found)
    }
}
