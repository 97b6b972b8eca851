use chrono::{DateTime, Utc};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};
use serde::{Serialize, Serializer, ser::SerializeStruct};
use shared::{
    domain::{CancellationPolicy, PropertyId, UserId},
    properties::{self, Property, RawPropertyFields, RawSearch, SortOrder},
};
use uuid::Uuid;

use crate::{
    auth::{BearerAuth, OptionalAuth},
    cache,
    error::{ApiError, Result},
    listings,
    routes::Tag,
    state::AppState,
    types::{Date, JsonBytes, Text, strings},
};

pub struct PropertiesApi {
    pub state: AppState,
}

/// How much of the price a guest gets back on cancelling a paid stay.
#[derive(Enum, async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "CancellationPolicy", rename_all = "lowercase")]
#[graphql(name = "CancellationPolicy")]
pub enum Policy {
    /// Full refund until 24 hours before check-in (15:00 UTC), nothing after.
    Flexible,
    /// Full refund until 5 days before check-in, half after.
    Moderate,
    /// Half refunded until 7 days before check-in, nothing after.
    Strict,
}

impl From<CancellationPolicy> for Policy {
    fn from(policy: CancellationPolicy) -> Self {
        match policy {
            CancellationPolicy::Flexible => Self::Flexible,
            CancellationPolicy::Moderate => Self::Moderate,
            CancellationPolicy::Strict => Self::Strict,
        }
    }
}

impl From<Policy> for CancellationPolicy {
    fn from(policy: Policy) -> Self {
        match policy {
            Policy::Flexible => Self::Flexible,
            Policy::Moderate => Self::Moderate,
            Policy::Strict => Self::Strict,
        }
    }
}

/// A listed property. Money is in minor units of `currency`.
#[derive(Object, async_graphql::SimpleObject)]
#[oai(rename = "Property")]
#[graphql(name = "Property", complex)]
pub struct PropertyBody {
    pub(crate) id: Uuid,
    pub(crate) host_id: Uuid,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) address: String,
    pub(crate) city: String,
    pub(crate) country: String,
    #[oai(nullable)]
    pub(crate) latitude: Option<f64>,
    #[oai(nullable)]
    pub(crate) longitude: Option<f64>,
    pub(crate) price_per_night: i64,
    pub(crate) cleaning_fee: i64,
    pub(crate) currency: String,
    pub(crate) max_guests: i32,
    pub(crate) bedrooms: i32,
    pub(crate) bathrooms: i32,
    pub(crate) amenities: Vec<String>,
    pub(crate) photos: Vec<String>,
    pub(crate) cancellation_policy: Policy,
    /// Average of the ratings, two decimals; null before the first review.
    #[oai(nullable)]
    pub(crate) rating_average: Option<f64>,
    pub(crate) review_count: i32,
    /// False once the host removed the listing (kept for its guests' history).
    pub(crate) active: bool,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl From<Property> for PropertyBody {
    fn from(p: Property) -> Self {
        Self {
            id: p.id.0,
            host_id: p.host_id.0,
            name: p.name,
            description: p.description,
            address: p.address,
            city: p.city,
            country: p.country,
            latitude: p.latitude,
            longitude: p.longitude,
            price_per_night: p.price_per_night,
            cleaning_fee: p.cleaning_fee,
            currency: p.currency,
            max_guests: p.max_guests,
            bedrooms: p.bedrooms,
            bathrooms: p.bathrooms,
            amenities: p.amenities,
            photos: p.photos,
            cancellation_policy: p.cancellation_policy.into(),
            rating_average: p.rating_average,
            review_count: p.review_count,
            active: p.deleted_at.is_none(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A page of properties.
#[derive(Object)]
pub(crate) struct PropertyPage {
    pub(crate) items: Vec<PropertyBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub(crate) next_cursor: Option<String>,
}

// The bodies served most often are written straight to bytes with serde
// rather than through poem-openapi's `ToJSON`, which first builds a
// `serde_json::Value` tree (a `BTreeMap` per object, every string
// copied). The output is the same byte for byte: fields in the key order
// of that map (alphabetical), `None` as `null`, times as `to_rfc3339`, and
// a non-finite float left out as `ToJSON` leaves it out; a test compares
// the two on every field.

impl Serialize for PropertyBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        /// A float as `ToJSON` writes it: absent unless finite.
        fn float<S: SerializeStruct>(
            out: &mut S,
            key: &'static str,
            value: Option<f64>,
        ) -> std::result::Result<(), S::Error> {
            match value {
                Some(v) if !v.is_finite() => out.skip_field(key),
                _ => out.serialize_field(key, &value),
            }
        }
        let policy = match self.cancellation_policy {
            Policy::Flexible => "flexible",
            Policy::Moderate => "moderate",
            Policy::Strict => "strict",
        };
        let mut out = serializer.serialize_struct("Property", 23)?;
        out.serialize_field("active", &self.active)?;
        out.serialize_field("address", &self.address)?;
        out.serialize_field("amenities", &self.amenities)?;
        out.serialize_field("bathrooms", &self.bathrooms)?;
        out.serialize_field("bedrooms", &self.bedrooms)?;
        out.serialize_field("cancellation_policy", policy)?;
        out.serialize_field("city", &self.city)?;
        out.serialize_field("cleaning_fee", &self.cleaning_fee)?;
        out.serialize_field("country", &self.country)?;
        out.serialize_field("created_at", &Rfc3339(self.created_at))?;
        out.serialize_field("currency", &self.currency)?;
        out.serialize_field("description", &self.description)?;
        out.serialize_field("host_id", &AsStr(self.host_id))?;
        out.serialize_field("id", &AsStr(self.id))?;
        float(&mut out, "latitude", self.latitude)?;
        float(&mut out, "longitude", self.longitude)?;
        out.serialize_field("max_guests", &self.max_guests)?;
        out.serialize_field("name", &self.name)?;
        out.serialize_field("photos", &self.photos)?;
        out.serialize_field("price_per_night", &self.price_per_night)?;
        float(&mut out, "rating_average", self.rating_average)?;
        out.serialize_field("review_count", &self.review_count)?;
        out.serialize_field("updated_at", &Rfc3339(self.updated_at))?;
        out.end()
    }
}

impl Serialize for PropertyPage {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("PropertyPage", 2)?;
        out.serialize_field("items", &self.items)?;
        out.serialize_field("next_cursor", &self.next_cursor)?;
        out.end()
    }
}

/// A value written as the JSON string of its `Display`.
struct AsStr<T>(T);

impl<T: std::fmt::Display> Serialize for AsStr<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// A time as poem-openapi writes it (`to_rfc3339`: `+00:00`, not `Z`).
struct Rfc3339(DateTime<Utc>);

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_rfc3339())
    }
}

/// A new listing. Money in minor units (cents for USD).
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct CreatePropertyRequest {
    #[oai(validator(min_length = 1, max_length = 200))]
    name: Text,
    #[oai(nullable, validator(max_length = 10000))]
    description: Option<Text>,
    #[oai(validator(min_length = 1, max_length = 500))]
    address: Text,
    #[oai(validator(min_length = 1, max_length = 100))]
    city: Text,
    #[oai(validator(min_length = 2, max_length = 100))]
    country: Text,
    #[oai(nullable, validator(minimum(value = "-90"), maximum(value = "90")))]
    latitude: Option<f64>,
    #[oai(nullable, validator(minimum(value = "-180"), maximum(value = "180")))]
    longitude: Option<f64>,
    #[oai(validator(minimum(value = "1"), maximum(value = "100000000")))]
    price_per_night: i64,
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "100000000")))]
    cleaning_fee: Option<i64>,
    /// ISO 4217, e.g. `USD`.
    #[oai(validator(pattern = "^[A-Z]{3}$"))]
    currency: Text,
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    max_guests: i64,
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "100")))]
    bedrooms: Option<i64>,
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "100")))]
    bathrooms: Option<i64>,
    /// Compared case-insensitively; at most 50.
    #[oai(nullable, validator(max_items = 50))]
    amenities: Option<Vec<Text>>,
    /// http(s) URLs; at most 50.
    #[oai(nullable, validator(max_items = 50))]
    photos: Option<Vec<Text>>,
    /// Default `moderate`.
    #[oai(nullable)]
    cancellation_policy: Option<Policy>,
}

/// Changes to a listing; a field left out keeps its value.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct UpdatePropertyRequest {
    #[oai(nullable, validator(min_length = 1, max_length = 200))]
    name: Option<Text>,
    #[oai(nullable, validator(max_length = 10000))]
    description: Option<Text>,
    #[oai(nullable, validator(min_length = 1, max_length = 500))]
    address: Option<Text>,
    #[oai(nullable, validator(min_length = 1, max_length = 100))]
    city: Option<Text>,
    #[oai(nullable, validator(min_length = 2, max_length = 100))]
    country: Option<Text>,
    /// `null` removes it.
    #[oai(nullable, validator(minimum(value = "-90"), maximum(value = "90")))]
    latitude: MaybeUndefined<f64>,
    /// `null` removes it.
    #[oai(nullable, validator(minimum(value = "-180"), maximum(value = "180")))]
    longitude: MaybeUndefined<f64>,
    /// Applies to new bookings; existing ones keep their price.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "100000000")))]
    price_per_night: Option<i64>,
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "100000000")))]
    cleaning_fee: Option<i64>,
    #[oai(nullable, validator(pattern = "^[A-Z]{3}$"))]
    currency: Option<Text>,
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "100")))]
    max_guests: Option<i64>,
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "100")))]
    bedrooms: Option<i64>,
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "100")))]
    bathrooms: Option<i64>,
    #[oai(nullable, validator(max_items = 50))]
    amenities: Option<Vec<Text>>,
    #[oai(nullable, validator(max_items = 50))]
    photos: Option<Vec<Text>>,
    /// Applies to new bookings.
    #[oai(nullable)]
    cancellation_policy: Option<Policy>,
}

fn maybe(value: MaybeUndefined<f64>) -> Option<Option<f64>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

impl From<CreatePropertyRequest> for RawPropertyFields {
    fn from(r: CreatePropertyRequest) -> Self {
        Self {
            name: Some(r.name.into()),
            description: r.description.map(Into::into),
            address: Some(r.address.into()),
            city: Some(r.city.into()),
            country: Some(r.country.into()),
            latitude: r.latitude.map(Some),
            longitude: r.longitude.map(Some),
            price_per_night: Some(r.price_per_night),
            cleaning_fee: r.cleaning_fee,
            currency: Some(r.currency.into()),
            max_guests: Some(r.max_guests),
            bedrooms: r.bedrooms,
            bathrooms: r.bathrooms,
            amenities: strings(r.amenities),
            photos: strings(r.photos),
            cancellation_policy: r.cancellation_policy.map(Into::into),
        }
    }
}

impl From<UpdatePropertyRequest> for RawPropertyFields {
    fn from(r: UpdatePropertyRequest) -> Self {
        Self {
            name: r.name.map(Into::into),
            description: r.description.map(Into::into),
            address: r.address.map(Into::into),
            city: r.city.map(Into::into),
            country: r.country.map(Into::into),
            latitude: maybe(r.latitude),
            longitude: maybe(r.longitude),
            price_per_night: r.price_per_night,
            cleaning_fee: r.cleaning_fee,
            currency: r.currency.map(Into::into),
            max_guests: r.max_guests,
            bedrooms: r.bedrooms,
            bathrooms: r.bathrooms,
            amenities: strings(r.amenities),
            photos: strings(r.photos),
            cancellation_policy: r.cancellation_policy.map(Into::into),
        }
    }
}

/// Search order.
#[derive(Enum, async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "PropertySort", rename_all = "snake_case")]
#[graphql(name = "PropertySort")]
pub(crate) enum Sort {
    /// Most recently listed first (default).
    Newest,
    PriceAsc,
    PriceDesc,
    /// Best rated first; unrated last.
    Rating,
}

impl From<Sort> for SortOrder {
    fn from(sort: Sort) -> Self {
        match sort {
            Sort::Newest => Self::Newest,
            Sort::PriceAsc => Self::PriceAsc,
            Sort::PriceDesc => Self::PriceDesc,
            Sort::Rating => Self::Rating,
        }
    }
}

#[derive(ApiResponse)]
enum CreatePropertyResponse {
    /// The listing is live.
    #[oai(status = 201)]
    Created(Json<PropertyBody>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum DeletePropertyResponse {
    /// The listing left search; its history stays readable to its guests.
    #[oai(status = 204)]
    Deleted,
}

impl PropertiesApi {
    /// An active listing the caller may change.
    async fn managed(&self, auth: &BearerAuth, id: PropertyId) -> Result<Property> {
        let property = properties::find(&self.state.db, id)
            .await?
            .filter(|p| p.deleted_at.is_none())
            .ok_or_else(|| ApiError::not_found("property"))?;
        if !auth.0.may_manage_property(property.host_id) {
            return Err(ApiError::forbidden("Only the listing's host or an admin changes it."));
        }
        Ok(property)
    }
}

#[OpenApi(tag = "Tag::Properties")]
impl PropertiesApi {
    /// Search properties
    ///
    /// Public. Filters combine; `check_in` and `check_out` together keep
    /// only properties free for those nights.
    #[oai(path = "/properties", method = "get", operation_id = "searchProperties")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        /// City, case-insensitive.
        #[oai(validator(max_length = 100))]
        city: Query<Option<String>>,
        /// Country, case-insensitive.
        #[oai(validator(max_length = 100))]
        country: Query<Option<String>>,
        /// Lowest nightly price, minor units.
        #[oai(validator(minimum(value = "0")))]
        min_price: Query<Option<i64>>,
        /// Highest nightly price, minor units.
        #[oai(validator(minimum(value = "0")))]
        max_price: Query<Option<i64>>,
        /// Guests the property must take.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        guests: Query<Option<i64>>,
        /// Every one of these amenities (repeat the parameter).
        #[oai(validator(max_items = 20))]
        amenities: Query<Option<Vec<String>>>,
        /// Free text over name and description (web search syntax: quotes, `-word`, `or`).
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        /// Available from this night (with `check_out`).
        check_in: Query<Option<Date>>,
        /// Until this morning (with `check_in`).
        check_out: Query<Option<Date>>,
        /// Only this host's listings.
        host_id: Query<Option<Uuid>>,
        /// Order of results (default `newest`).
        sort: Query<Option<Sort>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page (same filters and sort).
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> Result<JsonBytes<PropertyPage>> {
        let request = RawSearch {
            city: city.0,
            country: country.0,
            min_price: min_price.0,
            max_price: max_price.0,
            guests: guests.0,
            amenities: amenities.0.unwrap_or_default(),
            text: q.0,
            check_in: check_in.0.map(|d| d.0),
            check_out: check_out.0.map(|d| d.0),
            host_id: host_id.0.map(UserId),
            order: sort.0.map(Into::into),
            limit: limit.0,
            cursor: cursor.0,
        }
        .parse()?;
        let page = listings::search(&self.state, &request).await?.map(PropertyBody::from);
        Ok(JsonBytes::encode(&PropertyPage { items: page.items, next_cursor: page.next_cursor }))
    }

    /// List a property (hosts and admins)
    #[oai(path = "/properties", method = "post", operation_id = "createProperty")]
    async fn create(&self, auth: BearerAuth, body: Json<CreatePropertyRequest>) -> Result<CreatePropertyResponse> {
        if !auth.0.may_create_property() {
            return Err(ApiError::forbidden("Only hosts and admins list properties."));
        }
        let fields = RawPropertyFields::from(body.0).parse(true)?;
        let mut conn = self.state.db.acquire().await?;
        let property =
            properties::insert(&mut conn, auth.0.user_id, &fields).await?.ok_or_else(ApiError::account_closed)?;
        self.state.cache.bump(&cache::property_changed(property.id)).await;
        tracing::info!(property_id = %property.id, "property listed");
        let location = format!("/properties/{}", property.id);
        Ok(CreatePropertyResponse::Created(Json(property.into()), location))
    }

    /// A property
    ///
    /// Public while listed. A removed listing stays visible to its host, its
    /// guests and admins.
    #[oai(path = "/properties/:property_id", method = "get", operation_id = "getProperty")]
    async fn get(&self, auth: OptionalAuth, property_id: Path<Uuid>) -> Result<JsonBytes<PropertyBody>> {
        let detail = listings::detail(&self.state, auth.actor(), PropertyId(property_id.0)).await?;
        Ok(JsonBytes::new(detail.into_json()))
    }

    /// Change a property (its host or an admin)
    #[oai(path = "/properties/:property_id", method = "put", operation_id = "updateProperty")]
    async fn update(
        &self,
        auth: BearerAuth,
        property_id: Path<Uuid>,
        body: Json<UpdatePropertyRequest>,
    ) -> Result<Json<PropertyBody>> {
        let id = PropertyId(property_id.0);
        self.managed(&auth, id).await?;
        let fields = RawPropertyFields::from(body.0).parse(false)?;
        let mut conn = self.state.db.acquire().await?;
        let property =
            properties::update(&mut conn, id, &fields).await?.ok_or_else(|| ApiError::not_found("property"))?;
        self.state.cache.bump(&cache::property_changed(id)).await;
        Ok(Json(property.into()))
    }

    /// Remove a property (its host or an admin)
    ///
    /// Refused (409) while it has pending or confirmed stays that are not
    /// over. The listing leaves search; bookings and reviews stay.
    #[oai(path = "/properties/:property_id", method = "delete", operation_id = "deleteProperty")]
    async fn delete(&self, auth: BearerAuth, property_id: Path<Uuid>) -> Result<DeletePropertyResponse> {
        let id = PropertyId(property_id.0);
        self.managed(&auth, id).await?;
        let mut tx = self.state.db.begin().await?;
        // Lock the listing: a booking (which holds a share lock on it) cannot
        // slip in between the check and the removal.
        sqlx::query("select 1 from properties where property_id = $1 for update").bind(id).execute(&mut *tx).await?;
        if properties::has_upcoming_stays(&mut *tx, id).await? {
            return Err(ApiError::conflict("upcoming-stays", "This property has stays to come; cancel them first."));
        }
        properties::deactivate(&mut tx, id).await?;
        tx.commit().await?;
        self.state.cache.bump(&cache::property_changed(id)).await;
        Ok(DeletePropertyResponse::Deleted)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use poem_openapi::types::ToJSON;

    use super::*;

    fn body(n: u32) -> PropertyBody {
        let texts = ["Flat", "Quote \" and \\ back", "Tab\tnew\nline\u{1}", "Ação – 東京 🏠", "</script>", ""];
        let text = |k: u32| texts[((n + k) as usize) % texts.len()].to_owned();
        let floats = [
            None,
            Some(0.0),
            Some(-33.868_82),
            Some(151.209_296),
            Some(4.5),
            Some(1e-7),
            Some(f64::NAN),
            Some(f64::INFINITY),
        ];
        let float = |k: u32| floats[((n + k) as usize) % floats.len()];
        let time = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, n % 60).unwrap()
            + chrono::Duration::nanoseconds([0, 1_000, 123_456_789, 500_000_000][(n % 4) as usize]);
        PropertyBody {
            id: Uuid::from_u128(u128::from(n) << 64 | 0xabc),
            host_id: Uuid::from_u128(u128::from(n) * 7_919),
            name: text(0),
            description: text(1),
            address: text(2),
            city: text(3),
            country: text(4),
            latitude: float(0),
            longitude: float(if n.is_multiple_of(5) { 6 + n % 2 } else { 1 }),
            price_per_night: i64::from(n) * 1_000 + 1,
            cleaning_fee: i64::from(n % 3),
            currency: "EUR".into(),
            max_guests: n as i32 % 16 + 1,
            bedrooms: n as i32 % 4,
            bathrooms: n as i32 % 3,
            amenities: (0..n % 3).map(text).collect(),
            photos: (0..n % 2).map(|k| format!("https://img.example/{k}?a=1&b=\"2\"")).collect(),
            cancellation_policy: [Policy::Flexible, Policy::Moderate, Policy::Strict][(n % 3) as usize],
            rating_average: float(2),
            review_count: n as i32,
            active: n.is_multiple_of(2),
            created_at: time,
            updated_at: time + chrono::Duration::days(i64::from(n)),
        }
    }

    #[test]
    fn a_property_and_a_page_are_written_as_poem_openapi_writes_them_byte_for_byte() {
        for n in 0..60 {
            let one = body(n);
            let expected = serde_json::to_vec(&one.to_json()).unwrap();
            assert_eq!(
                String::from_utf8(serde_json::to_vec(&one).unwrap()).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
        for next_cursor in [None, Some("eyJ0IjoiMjAyNiJ9".to_owned())] {
            let page = PropertyPage { items: (0..7).map(body).collect(), next_cursor };
            assert_eq!(serde_json::to_vec(&page).unwrap(), serde_json::to_vec(&page.to_json()).unwrap());
        }
        let empty = PropertyPage { items: vec![], next_cursor: None };
        assert_eq!(serde_json::to_vec(&empty).unwrap(), serde_json::to_vec(&empty.to_json()).unwrap());
    }
}
