//! Reads of listings that REST and GraphQL share: a property's detail and a
//! page of search results, through the Redis cache, with the visibility
//! rule of `shared::properties`.

use poem_openapi::types::ParseFromJSON;
use sha2::Digest;
use shared::{
    domain::PropertyId,
    pagination::Page,
    policy::Actor,
    properties::{self, Property, SearchCursor, SearchRequest},
};

use crate::{
    cache::{self, Lookup},
    error::{ApiError, Result},
    routes::properties::PropertyBody,
    state::AppState,
};

/// A property's detail as served: the JSON body of `GET /properties/{id}`.
pub enum Detail {
    /// The body stored in the cache, passed on unparsed.
    Cached(Vec<u8>),
    /// Read from PostgreSQL, with its JSON when it was encoded for the
    /// cache.
    Read { body: Box<PropertyBody>, json: Option<Vec<u8>> },
}

impl Detail {
    /// The body to serve.
    pub fn into_json(self) -> Vec<u8> {
        match self {
            Self::Cached(raw) => raw,
            Self::Read { json: Some(json), .. } => json,
            Self::Read { body, json: None } => body_json(&body),
        }
    }

    /// The body as an object (GraphQL resolves fields on it).
    pub fn into_body(self) -> Result<PropertyBody> {
        match self {
            Self::Read { body, .. } => Ok(*body),
            Self::Cached(raw) => serde_json::from_slice(&raw)
                .ok()
                .and_then(|value| PropertyBody::parse_from_json(Some(value)).ok())
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a cached property does not parse"))),
        }
    }
}

/// The JSON poem-openapi writes for `body`, byte for byte.
fn body_json(body: &PropertyBody) -> Vec<u8> {
    serde_json::to_vec(body).expect("BUG: a property serializes")
}

/// A property `actor` may see. A listed one is cached as its response
/// body, so a hit costs one Redis call and no JSON work.
pub async fn detail(state: &AppState, actor: Option<Actor>, id: PropertyId) -> Result<Detail> {
    let cache = &state.cache;
    let key = format!("property:{id}");
    let lookup = cache.lookup(&key, &cache::property_scopes(id)).await;
    let versions = match lookup {
        Some(Lookup { entry: Some(raw), .. }) => return Ok(Detail::Cached(raw)),
        Some(Lookup { versions, entry: None }) => Some(versions),
        None => None,
    };
    let property = properties::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("property"))?;
    if property.deleted_at.is_none() {
        let body = PropertyBody::from(property);
        // Only listed properties are cached: removed ones depend on the caller.
        let json = match &versions {
            Some(versions) => {
                let json = body_json(&body);
                cache.put_raw(&key, versions, &json, cache::DETAIL_TTL).await;
                Some(json)
            }
            None => None,
        };
        return Ok(Detail::Read { body: Box::new(body), json });
    }
    if !properties::may_see(&state.db, actor, &property).await? {
        return Err(ApiError::not_found("property"));
    }
    Ok(Detail::Read { body: Box::new(property.into()), json: None })
}

/// A page of search results; first pages come from the cache when fresh.
pub async fn search(state: &AppState, request: &SearchRequest) -> Result<Page<Property>> {
    let SearchRequest { search, order, after, limit } = request;
    let cache = &state.cache;
    let key = serde_json::to_vec(&(search, order, limit.get())).map(|k| {
        let digest = sha2::Sha256::digest(k);
        format!("search:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
    });
    // Later pages are read once each; only first pages repeat.
    let lookup = match (after, &key) {
        (None, Ok(key)) => cache.lookup(key, &cache::availability_changed()).await,
        _ => None,
    };
    let (versions, cached) = match lookup {
        Some(Lookup { versions, entry }) => {
            (Some(versions), entry.and_then(|raw| serde_json::from_slice::<Vec<Property>>(&raw).ok()))
        }
        None => (None, None),
    };
    let rows = match cached {
        Some(rows) => rows,
        None => {
            // First pages go to the cache, which must hold only what the
            // primary had; later pages may come from a replica.
            let pools = if after.is_some() {
                properties::SearchPools { db: &state.read_db, walk_db: &state.read_walk_db }
            } else {
                properties::SearchPools { db: &state.db, walk_db: &state.walk_db }
            };
            let rows = properties::search(pools, search, *order, after.as_ref(), *limit).await?;
            // Stored when asked for again: most searches are made once.
            if let (Some(versions), Ok(key)) = (&versions, &key)
                && cache.admit(key)
            {
                cache.put(key, versions, &rows, cache::SEARCH_TTL).await;
            }
            rows
        }
    };
    Ok(Page::from_rows(rows, *limit, |p| SearchCursor::after(*order, p)))
}
