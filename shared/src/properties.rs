//! Listings: their validated fields, queries, and search.

use std::{
    num::NonZeroUsize,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use chrono::{DateTime, NaiveDate, Utc};
use lru::LruCache;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};

use crate::domain::{CancellationPolicy, Currency, PropertyId, StayDates, UserId, ValidationErrors};
use crate::pagination::{CursorTime, PageLimit, decode_cursor};
use crate::policy::Actor;
use crate::users;

/// A listing as stored.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct Property {
    #[sqlx(rename = "property_id")]
    pub id: PropertyId,
    pub host_id: UserId,
    pub name: String,
    pub description: String,
    pub address: String,
    pub city: String,
    pub country: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub price_per_night: i64,
    pub cleaning_fee: i64,
    pub currency: String,
    pub max_guests: i32,
    pub bedrooms: i32,
    pub bathrooms: i32,
    pub amenities: Vec<String>,
    pub photos: Vec<String>,
    pub cancellation_policy: CancellationPolicy,
    pub rating_average: Option<f64>,
    pub review_count: i32,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a stay at a listing is booked and priced by.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Terms {
    #[sqlx(rename = "property_id")]
    pub id: PropertyId,
    pub host_id: UserId,
    pub price_per_night: i64,
    pub cleaning_fee: i64,
    pub currency: String,
    pub max_guests: i32,
    pub cancellation_policy: CancellationPolicy,
}

/// The columns of [`Terms`].
const TERMS: &str = "property_id, host_id, price_per_night, cleaning_fee, currency, max_guests, cancellation_policy";

/// Listings' terms as last read by this process, the most recently used
/// [`TermsCache::CAPACITY`] of them: a booking quoted from them spares the
/// read of its listing. Never trusted: a hold is written only while its
/// listing still has the terms it was quoted from, and one quoted from a
/// stale entry takes the locked pass that reads the terms again and
/// refreshes the entry. So no entry expires and no other process's write
/// needs to reach it.
pub struct TermsCache {
    entries: Mutex<LruCache<PropertyId, Terms>>,
    /// Lookups that found terms.
    pub hits: AtomicU64,
    /// Lookups that did not.
    pub misses: AtomicU64,
}

impl TermsCache {
    /// About 200 bytes an entry: 10 MiB when full.
    pub const CAPACITY: usize = 50_000;

    pub fn new(capacity: NonZeroUsize) -> Self {
        Self { entries: Mutex::new(LruCache::new(capacity)), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    pub fn get(&self, id: PropertyId) -> Option<Terms> {
        let terms = self.entries().get(&id).cloned();
        let counter = if terms.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        terms
    }

    /// Notes what was just read of `id` (its terms, or `None` when it is
    /// gone) and hands it back.
    pub fn read(&self, id: PropertyId, terms: Option<Terms>) -> Option<Terms> {
        match &terms {
            Some(terms) => {
                self.entries().put(id, terms.clone());
            }
            None => {
                self.entries().pop(&id);
            }
        }
        terms
    }

    fn entries(&self) -> MutexGuard<'_, LruCache<PropertyId, Terms>> {
        // Every call leaves the map whole: a panic elsewhere leaves it usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for TermsCache {
    fn default() -> Self {
        Self::new(NonZeroUsize::new(Self::CAPACITY).expect("a positive capacity"))
    }
}

/// The writable fields of a listing, validated. On update every field is
/// optional (`None` keeps the stored value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PropertyFields {
    pub name: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    /// `Some(None)` clears the coordinate.
    pub latitude: Option<Option<f64>>,
    pub longitude: Option<Option<f64>>,
    pub price_per_night: Option<i64>,
    pub cleaning_fee: Option<i64>,
    pub currency: Option<Currency>,
    pub max_guests: Option<i32>,
    pub bedrooms: Option<i32>,
    pub bathrooms: Option<i32>,
    pub amenities: Option<Vec<String>>,
    pub photos: Option<Vec<String>>,
    pub cancellation_policy: Option<CancellationPolicy>,
}

/// Raw field values as a client sends them.
#[derive(Clone, Debug, Default)]
pub struct RawPropertyFields {
    pub name: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub latitude: Option<Option<f64>>,
    pub longitude: Option<Option<f64>>,
    pub price_per_night: Option<i64>,
    pub cleaning_fee: Option<i64>,
    pub currency: Option<String>,
    pub max_guests: Option<i64>,
    pub bedrooms: Option<i64>,
    pub bathrooms: Option<i64>,
    pub amenities: Option<Vec<String>>,
    pub photos: Option<Vec<String>>,
    pub cancellation_policy: Option<CancellationPolicy>,
}

pub const MAX_AMENITIES: usize = 50;
pub const MAX_PHOTOS: usize = 50;

fn text(raw: &str, min: usize, max: usize) -> Result<String, String> {
    let value = raw.trim();
    let chars = value.chars().count();
    if chars < min || chars > max {
        return Err(if min > 0 {
            format!("must be {min} to {max} characters")
        } else {
            format!("must be at most {max} characters")
        });
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_owned())
}

fn count(raw: i64, min: i64, max: i64) -> Result<i32, String> {
    if (min..=max).contains(&raw) { Ok(raw as i32) } else { Err(format!("must be between {min} and {max}")) }
}

/// Amenities are compared lower-case and trimmed; duplicates collapse.
/// A free-text search filter (city, country, `q`): trimmed, `None` when
/// blank. PostgreSQL text cannot hold NUL, so a filter with one is refused
/// rather than sent.
pub fn search_text(raw: &str) -> Result<Option<String>, &'static str> {
    if raw.contains('\0') {
        return Err("must not contain NUL characters");
    }
    let value = raw.trim();
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

pub fn normalize_amenity(raw: &str) -> Result<String, String> {
    let amenity = raw.trim().to_lowercase();
    if amenity.is_empty() || amenity.chars().count() > 50 || amenity.chars().any(char::is_control) {
        return Err("each amenity must be 1 to 50 characters".into());
    }
    Ok(amenity)
}

fn amenities(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > MAX_AMENITIES {
        return Err(format!("at most {MAX_AMENITIES} amenities"));
    }
    let mut list = raw.iter().map(|a| normalize_amenity(a)).collect::<Result<Vec<_>, _>>()?;
    list.sort();
    list.dedup();
    Ok(list)
}

fn photos(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > MAX_PHOTOS {
        return Err(format!("at most {MAX_PHOTOS} photos"));
    }
    raw.iter()
        .map(|url| {
            let url = url.trim();
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= 2048
                && url.len() > "https://".len()
                && !url.chars().any(|c| c.is_whitespace() || c.is_control());
            if ok {
                Ok(url.to_owned())
            } else {
                Err("each photo must be an http(s) URL of at most 2048 characters".to_owned())
            }
        })
        .collect()
}

impl RawPropertyFields {
    /// Validates every present field; `complete` requires the fields a new
    /// listing must have.
    pub fn parse(self, complete: bool) -> Result<PropertyFields, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if complete {
            let required = [
                ("name", self.name.is_some()),
                ("address", self.address.is_some()),
                ("city", self.city.is_some()),
                ("country", self.country.is_some()),
                ("price_per_night", self.price_per_night.is_some()),
                ("currency", self.currency.is_some()),
                ("max_guests", self.max_guests.is_some()),
            ];
            for (field, present) in required {
                if !present {
                    errors.add(field, "is required");
                }
            }
        }
        let mut fields = PropertyFields::default();
        macro_rules! field {
            ($name:ident, $parse:expr) => {
                if let Some(raw) = self.$name {
                    fields.$name = errors.check(stringify!($name), $parse(raw));
                }
            };
        }
        field!(name, |r: String| text(&r, 1, 200));
        field!(description, |r: String| text(&r, 0, 10_000));
        field!(address, |r: String| text(&r, 1, 500));
        field!(city, |r: String| text(&r, 1, 100));
        field!(country, |r: String| text(&r, 2, 100));
        field!(latitude, |r: Option<f64>| match r {
            Some(v) if !(-90.0..=90.0).contains(&v) => Err("must be between -90 and 90".to_owned()),
            other => Ok(other),
        });
        field!(longitude, |r: Option<f64>| match r {
            Some(v) if !(-180.0..=180.0).contains(&v) => Err("must be between -180 and 180".to_owned()),
            other => Ok(other),
        });
        field!(price_per_night, |r: i64| if (1..=100_000_000).contains(&r) {
            Ok(r)
        } else {
            Err("must be between 1 and 100000000 minor units".to_owned())
        });
        field!(cleaning_fee, |r: i64| if (0..=100_000_000).contains(&r) {
            Ok(r)
        } else {
            Err("must be between 0 and 100000000 minor units".to_owned())
        });
        field!(currency, |r: String| Currency::parse(&r));
        field!(max_guests, |r: i64| count(r, 1, 100));
        field!(bedrooms, |r: i64| count(r, 0, 100));
        field!(bathrooms, |r: i64| count(r, 0, 100));
        field!(amenities, |r: Vec<String>| amenities(&r));
        field!(photos, |r: Vec<String>| photos(&r));
        fields.cancellation_policy = self.cancellation_policy;
        errors.into_result()?;
        Ok(fields)
    }
}

const COLUMNS: &str = "property_id, host_id, name, description, address, city, country, latitude, longitude, \
     price_per_night, cleaning_fee, currency, max_guests, bedrooms, bathrooms, amenities, photos, \
     cancellation_policy, rating_average::float8 as rating_average, review_count, deleted_at, created_at, updated_at";

/// Inserts a listing for `host_id`; `fields` must be complete. `None`,
/// writing nothing, when the host's account is closed or closes meanwhile
/// ([`users::lock_if_open`]).
#[tracing::instrument(skip(conn, fields))]
pub async fn insert(
    conn: &mut PgConnection,
    host_id: UserId,
    fields: &PropertyFields,
) -> sqlx::Result<Option<Property>> {
    let required = "BUG: complete property fields";
    let host = users::lock_if_open("$2");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with host as ({host}) \
         insert into properties (property_id, host_id, name, description, address, city, country, latitude, \
             longitude, price_per_night, cleaning_fee, currency, max_guests, bedrooms, bathrooms, amenities, \
             photos, cancellation_policy) \
         select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18 from host \
         returning {COLUMNS}"
    )))
    .bind(PropertyId::new())
    .bind(host_id)
    .bind(fields.name.as_deref().expect(required))
    .bind(fields.description.as_deref().unwrap_or(""))
    .bind(fields.address.as_deref().expect(required))
    .bind(fields.city.as_deref().expect(required))
    .bind(fields.country.as_deref().expect(required))
    .bind(fields.latitude.flatten())
    .bind(fields.longitude.flatten())
    .bind(fields.price_per_night.expect(required))
    .bind(fields.cleaning_fee.unwrap_or(0))
    .bind(fields.currency.expect(required).as_str())
    .bind(fields.max_guests.expect(required))
    .bind(fields.bedrooms.unwrap_or(0))
    .bind(fields.bathrooms.unwrap_or(0))
    .bind(fields.amenities.clone().unwrap_or_default())
    .bind(fields.photos.clone().unwrap_or_default())
    .bind(fields.cancellation_policy.unwrap_or(CancellationPolicy::Moderate))
    .fetch_optional(conn)
    .await
}

/// A listing, active or deactivated.
#[tracing::instrument(skip(executor))]
pub async fn find(executor: impl PgExecutor<'_>, id: PropertyId) -> sqlx::Result<Option<Property>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {COLUMNS} from properties where property_id = $1")))
        .bind(id)
        .fetch_optional(executor)
        .await
}

/// Listings by id, active or deactivated, in no particular order; unknown
/// ids are left out.
#[tracing::instrument(skip_all, fields(ids = ids.len()))]
pub async fn find_many(executor: impl PgExecutor<'_>, ids: &[PropertyId]) -> sqlx::Result<Vec<Property>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {COLUMNS} from properties where property_id = any($1)")))
        .bind(ids)
        .fetch_all(executor)
        .await
}

/// Whether `actor` (anonymous when `None`) may see `property`: anyone while
/// it is listed; once removed, its host, its guests and admins, for whom it
/// is part of a history.
pub async fn may_see(executor: impl PgExecutor<'_>, actor: Option<Actor>, property: &Property) -> sqlx::Result<bool> {
    if property.deleted_at.is_none() {
        return Ok(true);
    }
    match actor {
        Some(actor) if actor.may_manage_property(property.host_id) => Ok(true),
        Some(actor) => is_guest_of(executor, property.id, actor.user_id).await,
        None => Ok(false),
    }
}

/// An active listing's terms, read without a lock.
#[tracing::instrument(skip(executor))]
pub async fn terms(executor: impl PgExecutor<'_>, id: PropertyId) -> sqlx::Result<Option<Terms>> {
    read_terms(executor, id, "").await
}

/// Locks an active listing for the rest of the transaction and reads its
/// terms: the careful paths that write a booking (expire its lapsed holds,
/// then insert or move one) and changes to the listing then take turns.
/// The lock is exclusive among them, as two such paths each waiting for
/// what the other expired or inserted would deadlock; it still lets
/// bookings reference the row (`for no key update` leaves foreign keys
/// alone).
#[tracing::instrument(skip(conn))]
pub async fn terms_for_update(conn: &mut PgConnection, id: PropertyId) -> sqlx::Result<Option<Terms>> {
    read_terms(conn, id, "for no key update").await
}

/// An active listing's terms, with the row lock `lock` (SQL; empty for none).
async fn read_terms(executor: impl PgExecutor<'_>, id: PropertyId, lock: &str) -> sqlx::Result<Option<Terms>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {TERMS} from properties where property_id = $1 and deleted_at is null {lock}"
    )))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// Applies the present fields to an active listing.
#[tracing::instrument(skip(conn, fields))]
pub async fn update(
    conn: &mut PgConnection,
    id: PropertyId,
    fields: &PropertyFields,
) -> sqlx::Result<Option<Property>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update properties set
             name = coalesce($2, name),
             description = coalesce($3, description),
             address = coalesce($4, address),
             city = coalesce($5, city),
             country = coalesce($6, country),
             latitude = case when $7 then $8 else latitude end,
             longitude = case when $9 then $10 else longitude end,
             price_per_night = coalesce($11, price_per_night),
             cleaning_fee = coalesce($12, cleaning_fee),
             currency = coalesce($13, currency),
             max_guests = coalesce($14, max_guests),
             bedrooms = coalesce($15, bedrooms),
             bathrooms = coalesce($16, bathrooms),
             amenities = coalesce($17, amenities),
             photos = coalesce($18, photos),
             cancellation_policy = coalesce($19, cancellation_policy)
         where property_id = $1 and deleted_at is null
         returning {COLUMNS}"
    )))
    .bind(id)
    .bind(fields.name.as_deref())
    .bind(fields.description.as_deref())
    .bind(fields.address.as_deref())
    .bind(fields.city.as_deref())
    .bind(fields.country.as_deref())
    .bind(fields.latitude.is_some())
    .bind(fields.latitude.flatten())
    .bind(fields.longitude.is_some())
    .bind(fields.longitude.flatten())
    .bind(fields.price_per_night)
    .bind(fields.cleaning_fee)
    .bind(fields.currency.as_ref().map(Currency::as_str))
    .bind(fields.max_guests)
    .bind(fields.bedrooms)
    .bind(fields.bathrooms)
    .bind(fields.amenities.as_deref())
    .bind(fields.photos.as_deref())
    .bind(fields.cancellation_policy)
    .fetch_optional(conn)
    .await
}

/// True while the listing has a pending or confirmed stay not yet over.
#[tracing::instrument(skip(executor))]
pub async fn has_upcoming_stays(executor: impl PgExecutor<'_>, id: PropertyId) -> sqlx::Result<bool> {
    let upcoming = sqlx::query_scalar!(
        r#"select exists (
               select 1 from bookings
               where property_id = $1 and status in ('pending', 'confirmed') and check_out > current_date
                 and not (status = 'pending' and expires_at <= now())
           ) as "upcoming!""#,
        id as PropertyId,
    )
    .fetch_one(executor)
    .await?;
    Ok(upcoming)
}

/// Takes a listing out of search; its history stays.
#[tracing::instrument(skip(conn))]
pub async fn deactivate(conn: &mut PgConnection, id: PropertyId) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update properties set deleted_at = now() where property_id = $1 and deleted_at is null",
        id as PropertyId,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// True when `user` stayed at (or booked) the listing: its history stays
/// visible to them after the listing is deactivated.
pub async fn is_guest_of(executor: impl PgExecutor<'_>, id: PropertyId, user: UserId) -> sqlx::Result<bool> {
    let guest = sqlx::query_scalar!(
        r#"select exists (select 1 from bookings where property_id = $1 and guest_id = $2) as "guest!""#,
        id as PropertyId,
        user as UserId,
    )
    .fetch_one(executor)
    .await?;
    Ok(guest)
}

/// Search order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Newest,
    PriceAsc,
    PriceDesc,
    Rating,
}

/// The sort key of the last row of a page, with its order, so that a cursor
/// of another order is refused.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum SearchCursor {
    Newest {
        created_at: CursorTime,
        id: PropertyId,
    },
    PriceAsc {
        price: i64,
        id: PropertyId,
    },
    PriceDesc {
        price: i64,
        id: PropertyId,
    },
    /// The average with two decimals, compared as numeric.
    Rating {
        rating: CursorRating,
        id: PropertyId,
    },
}

impl SearchCursor {
    pub fn order(&self) -> SortOrder {
        match self {
            Self::Newest { .. } => SortOrder::Newest,
            Self::PriceAsc { .. } => SortOrder::PriceAsc,
            Self::PriceDesc { .. } => SortOrder::PriceDesc,
            Self::Rating { .. } => SortOrder::Rating,
        }
    }

    /// The cursor after `property` in `order`.
    pub fn after(order: SortOrder, property: &Property) -> Self {
        let id = property.id;
        match order {
            SortOrder::Newest => Self::Newest { created_at: CursorTime(property.created_at), id },
            SortOrder::PriceAsc => Self::PriceAsc { price: property.price_per_night, id },
            SortOrder::PriceDesc => Self::PriceDesc { price: property.price_per_night, id },
            SortOrder::Rating => {
                Self::Rating { rating: CursorRating(format!("{:.2}", property.rating_average.unwrap_or(0.0))), id }
            }
        }
    }
}

/// A rating average inside a cursor: `d.dd` between 0 and 5, refused
/// otherwise when the cursor decodes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct CursorRating(String);

impl<'de> serde::Deserialize<'de> for CursorRating {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        let well_formed = raw.len() == 4
            && raw.as_bytes()[1] == b'.'
            && raw.bytes().enumerate().all(|(i, b)| i == 1 || b.is_ascii_digit())
            && raw.as_str() <= "5.00";
        if !well_formed {
            return Err(serde::de::Error::custom("rating out of range"));
        }
        Ok(Self(raw))
    }
}

/// A validated search.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Search {
    pub city: Option<String>,
    pub country: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub guests: Option<i32>,
    /// Every one of these (normalised).
    pub amenities: Vec<String>,
    /// Free text over name and description (web search syntax).
    pub text: Option<String>,
    /// Only listings with no holding booking overlapping these nights.
    pub available: Option<StayDates>,
    pub host_id: Option<UserId>,
}

/// A search as a client sent it, before validation.
#[derive(Clone, Debug, Default)]
pub struct RawSearch {
    pub city: Option<String>,
    pub country: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub guests: Option<i64>,
    pub amenities: Vec<String>,
    pub text: Option<String>,
    pub check_in: Option<NaiveDate>,
    pub check_out: Option<NaiveDate>,
    pub host_id: Option<UserId>,
    pub order: Option<SortOrder>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// A validated search request: what to match, in which order, from where.
#[derive(Clone, Debug)]
pub struct SearchRequest {
    pub search: Search,
    pub order: SortOrder,
    pub after: Option<SearchCursor>,
    pub limit: PageLimit,
}

impl RawSearch {
    /// Validates every field and reports every problem at once, under the
    /// names of the REST query parameters.
    pub fn parse(self) -> Result<SearchRequest, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let limit = errors.check("limit", PageLimit::parse(self.limit));
        let order = self.order.unwrap_or(SortOrder::Newest);
        let after = match self.cursor.as_deref().map(decode_cursor::<SearchCursor>) {
            Some(Ok(cursor)) if cursor.order() == order => Some(cursor),
            Some(_) => {
                errors.add("cursor", "is not a cursor of this search order");
                None
            }
            None => None,
        };
        let available = match (self.check_in, self.check_out) {
            (None, None) => None,
            (Some(check_in), Some(check_out)) => errors.check("check_out", StayDates::new(check_in, check_out)),
            _ => {
                errors.add("check_out", "check_in and check_out go together");
                None
            }
        };
        for (field, value) in [("min_price", self.min_price), ("max_price", self.max_price)] {
            if value.is_some_and(|v| v < 0) {
                errors.add(field, "must not be negative");
            }
        }
        if let (Some(min), Some(max)) = (self.min_price, self.max_price)
            && min > max
        {
            errors.add("max_price", "must not be below min_price");
        }
        let guests = match self.guests {
            Some(g) if !(1..=100).contains(&g) => {
                errors.add("guests", "must be between 1 and 100");
                None
            }
            g => g.map(|g| g as i32),
        };
        let amenities = self.amenities.iter().filter_map(|a| errors.check("amenities", normalize_amenity(a))).collect();
        let mut filter =
            |field: &str, raw: Option<String>| raw.and_then(|raw| errors.check(field, search_text(&raw))).flatten();
        let (city, country, text) =
            (filter("city", self.city), filter("country", self.country), filter("q", self.text));
        let search = Search {
            city,
            country,
            min_price: self.min_price,
            max_price: self.max_price,
            guests,
            amenities,
            text,
            available,
            host_id: self.host_id,
        };
        errors.into_result()?;
        Ok(SearchRequest { search, order, after, limit: limit.expect("BUG: checked above") })
    }
}

/// The nights of `stay` that holding bookings (pending and unexpired, or
/// confirmed) take at each of `properties`, as `(property, check_in,
/// check_out)` in date order.
#[tracing::instrument(skip(executor, properties), fields(properties = properties.len()))]
pub async fn booked_ranges(
    executor: impl PgExecutor<'_>,
    properties: &[PropertyId],
    stay: StayDates,
) -> sqlx::Result<Vec<(PropertyId, NaiveDate, NaiveDate)>> {
    sqlx::query_as(
        "select property_id, check_in, check_out from bookings \
         where property_id = any($1) and status in ('pending', 'confirmed') \
           and not (status = 'pending' and expires_at <= now()) \
           and daterange(check_in, check_out, '[)') && daterange($2, $3, '[)') \
         order by property_id, check_in",
    )
    .bind(properties)
    .bind(stay.check_in())
    .bind(stay.check_out())
    .fetch_all(executor)
    .await
}

/// The pools a search may run on: `db` as any other statement, `walk_db`
/// with sessions set up as `db::Session::Walk`.
#[derive(Clone, Copy, Debug)]
pub struct SearchPools<'a> {
    pub db: &'a PgPool,
    pub walk_db: &'a PgPool,
}

/// Active listings matching `search`, in `order`, after `cursor`; fetches
/// `limit.fetch()` rows. One indexed statement whatever the filters.
#[tracing::instrument(skip(pools))]
pub async fn search(
    pools: SearchPools<'_>,
    search: &Search,
    order: SortOrder,
    cursor: Option<&SearchCursor>,
    limit: PageLimit,
) -> sqlx::Result<Vec<Property>> {
    let mut sql =
        QueryBuilder::<Postgres>::new(format!("select {COLUMNS} from properties p where p.deleted_at is null"));
    if let Some(city) = &search.city {
        sql.push(" and lower(p.city) = lower(").push_bind(city.clone()).push(")");
    }
    if let Some(country) = &search.country {
        sql.push(" and lower(p.country) = lower(").push_bind(country.clone()).push(")");
    }
    if let Some(min) = search.min_price {
        sql.push(" and p.price_per_night >= ").push_bind(min);
    }
    if let Some(max) = search.max_price {
        sql.push(" and p.price_per_night <= ").push_bind(max);
    }
    if let Some(guests) = search.guests {
        sql.push(" and p.max_guests >= ").push_bind(guests);
    }
    if !search.amenities.is_empty() {
        sql.push(" and p.amenities @> ").push_bind(search.amenities.clone());
    }
    if let Some(text) = &search.text {
        sql.push(" and p.search_document @@ websearch_to_tsquery('english', ").push_bind(text.clone()).push(")");
    }
    if let Some(host) = search.host_id {
        sql.push(" and p.host_id = ").push_bind(host);
    }
    if let Some(stay) = &search.available {
        // Holding bookings only; a pending hold past its expiry no longer
        // holds. Stays overlap when each starts before the other ends
        // (check-out days are free), written so that
        // `bookings_holding_idx` answers it.
        sql.push(
            " and not exists (select 1 from bookings b where b.property_id = p.property_id \
               and b.status in ('pending', 'confirmed') \
               and not (b.status = 'pending' and b.expires_at <= now()) \
               and b.check_out > ",
        )
        .push_bind(stay.check_in())
        .push(" and b.check_in < ")
        .push_bind(stay.check_out())
        .push(")");
    }
    match cursor {
        None => {}
        Some(SearchCursor::Newest { created_at, id }) => {
            sql.push(" and (p.created_at, p.property_id) < (")
                .push_bind(created_at.0)
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        Some(SearchCursor::PriceAsc { price, id }) => {
            sql.push(" and (p.price_per_night, p.property_id) > (")
                .push_bind(*price)
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        Some(SearchCursor::PriceDesc { price, id }) => {
            sql.push(" and (p.price_per_night, p.property_id) < (")
                .push_bind(*price)
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        Some(SearchCursor::Rating { rating, id }) => {
            sql.push(" and (coalesce(p.rating_average, 0), p.property_id) < (")
                .push_bind(rating.0.clone())
                .push("::numeric, ")
                .push_bind(*id)
                .push(")");
        }
    }
    sql.push(match order {
        SortOrder::Newest => " order by p.created_at desc, p.property_id desc",
        SortOrder::PriceAsc => " order by p.price_per_night asc, p.property_id asc",
        SortOrder::PriceDesc => " order by p.price_per_night desc, p.property_id desc",
        SortOrder::Rating => " order by coalesce(p.rating_average, 0) desc, p.property_id desc",
    });
    sql.push(" limit ").push_bind(limit.fetch());
    // Planned for its own values every time, never from a cached generic
    // plan: after five runs of a prepared statement PostgreSQL may settle
    // on one plan for all values, and the one that suits a small city
    // (every listing in the price range, then a sort) took 120-300 ms for
    // the largest at 100k listings, against 1-5 ms for its own plan. (An
    // unprepared statement would do, but sqlx 0.9 loses it when the row
    // has an enum type to look up.)
    //
    // Except in one city, newest first: there the page is read by walking
    // the city's listings in that order until it is full, with no sort,
    // whatever the values: that plan is made once per session, and sessions
    // of the walk pool make no other (`db::Session::Walk`). The planner
    // would otherwise take every listing in the price range and
    // sort them when it expects the range to hold few of the city's
    // listings, and it misjudges that wherever prices and cities go
    // together (a price range in won or baht is rare overall, common in
    // Seoul or Bangkok): 36-243 ms against under 1 ms for the walk, whose
    // cost the city's size bounds.
    if order == SortOrder::Newest && search.city.is_some() {
        // The walk pool's sessions plan it so, in one round trip.
        return sql.build_query_as().fetch_all(pools.walk_db).await;
    }
    // The setting goes with `begin` in one simple-protocol round trip.
    let mut tx = pools.db.begin_with("begin; set local plan_cache_mode = force_custom_plan").await?;
    let rows = sql.build_query_as().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_filter_is_trimmed_blank_is_none_and_nul_is_refused() {
        assert_eq!(search_text("  Lisbon "), Ok(Some("Lisbon".to_owned())));
        assert_eq!(search_text("   "), Ok(None));
        assert!(search_text("Lis\0bon").is_err());
    }

    #[test]
    fn a_complete_listing_needs_its_core_fields_and_reports_all_problems() {
        let errors = RawPropertyFields::default().parse(true).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "address", "city", "country", "price_per_night", "currency", "max_guests"]);
        let raw = RawPropertyFields {
            price_per_night: Some(0),
            currency: Some("usd".into()),
            amenities: Some(vec!["Wifi".into(), " wifi ".into(), "Pool".into()]),
            photos: Some(vec!["ftp://x".into()]),
            ..Default::default()
        };
        let errors = raw.parse(false).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["price_per_night", "currency", "photos"]);
    }

    #[test]
    fn amenities_are_normalised_and_deduplicated() {
        let raw = RawPropertyFields {
            amenities: Some(vec!["Wifi".into(), " wifi ".into(), "Pool".into()]),
            ..Default::default()
        };
        assert_eq!(raw.parse(false).unwrap().amenities, Some(vec!["pool".to_owned(), "wifi".to_owned()]));
    }
}
