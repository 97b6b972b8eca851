//! Reads of listings that REST and GraphQL share: a property's detail and a
//! page of search results, through the Redis cache, with the visibility
//! rule of `shared::properties`.

use sha2::Digest;
use shared::{
    domain::PropertyId,
    pagination::Page,
    policy::Actor,
    properties::{self, Property, SearchCursor, SearchRequest},
};

use crate::{
    cache,
    error::{ApiError, Result},
    state::AppState,
};

/// A property `actor` may see; listed ones come from the cache when fresh.
pub async fn detail(state: &AppState, actor: Option<Actor>, id: PropertyId) -> Result<Property> {
    let cache = &state.cache;
    let versions = cache.versions(&cache::property_scopes(id)).await;
    let key = format!("property:{id}");
    if let Some(versions) = &versions
        && let Some(property) = cache.get::<Property>(&key, versions).await
    {
        return Ok(property);
    }
    let property = properties::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("property"))?;
    if property.deleted_at.is_none()
        && let Some(versions) = &versions
    {
        // Only listed properties are cached: removed ones depend on the caller.
        cache.put(&key, versions, &property, cache::DETAIL_TTL).await;
    }
    if !properties::may_see(&state.db, actor, &property).await? {
        return Err(ApiError::not_found("property"));
    }
    Ok(property)
}

/// A page of search results; first pages come from the cache when fresh.
pub async fn search(state: &AppState, request: &SearchRequest) -> Result<Page<Property>> {
    let SearchRequest { search, order, after, limit } = request;
    let cache = &state.cache;
    // Later pages are read once each; only first pages repeat.
    let versions = match after {
        None => cache.versions(&cache::availability_changed()).await,
        Some(_) => None,
    };
    let key = serde_json::to_vec(&(search, order, limit.get())).map(|k| {
        let digest = sha2::Sha256::digest(k);
        format!("search:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
    });
    let cached = match (&versions, &key) {
        (Some(versions), Ok(key)) => cache.get::<Vec<Property>>(key, versions).await,
        _ => None,
    };
    let rows = match cached {
        Some(rows) => rows,
        None => {
            // First pages go to the cache, which must hold only what the
            // primary had; later pages may come from a replica.
            let db = if after.is_some() { &state.read_db } else { &state.db };
            let rows = properties::search(db, search, *order, after.as_ref(), *limit).await?;
            if let (Some(versions), Ok(key)) = (&versions, &key) {
                cache.put(key, versions, &rows, cache::SEARCH_TTL).await;
            }
            rows
        }
    };
    Ok(Page::from_rows(rows, *limit, |p| SearchCursor::after(*order, p)))
}
