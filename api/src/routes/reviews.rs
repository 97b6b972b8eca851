use chrono::{DateTime, Utc};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use shared::{
    domain::{BookingId, PropertyId, Rating, ReviewId, UserId, ValidationErrors},
    pagination::{CursorTime, Page, PageLimit, decode_cursor},
    reviews::{self, Review},
};
use uuid::Uuid;

use crate::{
    auth::BearerAuth,
    error::{ApiError, Result},
    routes::Tag,
    state::AppState,
    types::Text,
};

pub struct ReviewsApi {
    pub state: AppState,
}

/// A guest's review of a stay.
#[derive(Object, async_graphql::SimpleObject)]
#[oai(rename = "Review")]
#[graphql(name = "Review", complex)]
pub(crate) struct ReviewBody {
    pub(crate) id: Uuid,
    pub(crate) property_id: Uuid,
    pub(crate) booking_id: Uuid,
    pub(crate) author_id: Uuid,
    /// 1 to 5.
    pub(crate) rating: i16,
    pub(crate) comment: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl From<Review> for ReviewBody {
    fn from(r: Review) -> Self {
        Self {
            id: r.id.0,
            property_id: r.property_id.0,
            booking_id: r.booking_id.0,
            author_id: r.author_id.0,
            rating: r.rating,
            comment: r.comment,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A page of reviews.
#[derive(Object)]
struct ReviewPage {
    items: Vec<ReviewBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

/// A review of one's stay, once it has ended.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct CreateReviewRequest {
    booking_id: Uuid,
    #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
    rating: i64,
    #[oai(nullable, validator(max_length = 5000))]
    comment: Option<Text>,
}

/// Changes to a review; a field left out keeps its value.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct UpdateReviewRequest {
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "5")))]
    rating: Option<i64>,
    #[oai(nullable, validator(max_length = 5000))]
    comment: Option<Text>,
}

#[derive(ApiResponse)]
enum CreateReviewResponse {
    /// The review is published and counted in the property's rating.
    #[oai(status = 201)]
    Created(Json<ReviewBody>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum DeleteReviewResponse {
    /// The review is gone and no longer counted.
    #[oai(status = 204)]
    Deleted,
}

pub(crate) fn parse(
    rating: Option<i64>,
    comment: Option<&str>,
) -> Result<(Option<Rating>, Option<String>), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let rating = rating.and_then(|r| errors.check("rating", Rating::parse(r)));
    let comment = comment.and_then(|c| errors.check("comment", reviews::parse_comment(c)));
    errors.into_result()?;
    Ok((rating, comment))
}

#[OpenApi(tag = "Tag::Reviews")]
impl ReviewsApi {
    /// List reviews
    ///
    /// Public. Newest first.
    #[oai(path = "/reviews", method = "get", operation_id = "listReviews")]
    async fn list(
        &self,
        /// Only reviews of this property.
        property_id: Query<Option<Uuid>>,
        /// Only reviews by this user.
        author_id: Query<Option<Uuid>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> Result<Json<ReviewPage>> {
        let mut errors = ValidationErrors::new();
        let limit = errors.check("limit", PageLimit::parse(limit.0));
        let after = cursor.0.as_deref().and_then(|c| errors.check("cursor", decode_cursor(c)));
        errors.into_result()?;
        let limit = limit.expect("checked");
        let rows =
            reviews::list(&self.state.read_db, property_id.0.map(PropertyId), author_id.0.map(UserId), after, limit)
                .await?;
        let page = Page::from_rows(rows, limit, |r| (CursorTime(r.created_at), r.id)).map(ReviewBody::from);
        Ok(Json(ReviewPage { items: page.items, next_cursor: page.next_cursor }))
    }

    /// Review a stay (its guest, once it has ended)
    ///
    /// One review per booking; the property's rating is updated at once.
    #[oai(path = "/reviews", method = "post", operation_id = "createReview")]
    async fn create(&self, auth: BearerAuth, body: Json<CreateReviewRequest>) -> Result<CreateReviewResponse> {
        let (rating, comment) = parse(Some(body.0.rating), Some(body.0.comment.as_deref().unwrap_or("")))?;
        let mut tx = self.state.db.begin().await?;
        let review = reviews::create(
            &mut tx,
            auth.0,
            BookingId(body.0.booking_id),
            rating.expect("present"),
            comment.as_deref().unwrap_or(""),
            Utc::now(),
        )
        .await?;
        tx.commit().await?;
        self.state.reviews_changed(review.property_id).await;
        let location = format!("/reviews/{}", review.id);
        Ok(CreateReviewResponse::Created(Json(review.into()), location))
    }

    /// A review
    #[oai(path = "/reviews/:review_id", method = "get", operation_id = "getReview")]
    async fn get(&self, review_id: Path<Uuid>) -> Result<Json<ReviewBody>> {
        let review =
            reviews::find(&self.state.db, ReviewId(review_id.0)).await?.ok_or_else(|| ApiError::not_found("review"))?;
        Ok(Json(review.into()))
    }

    /// Change a review (its author or an admin)
    #[oai(path = "/reviews/:review_id", method = "put", operation_id = "updateReview")]
    async fn update(
        &self,
        auth: BearerAuth,
        review_id: Path<Uuid>,
        body: Json<UpdateReviewRequest>,
    ) -> Result<Json<ReviewBody>> {
        let (rating, comment) = parse(body.0.rating, body.0.comment.as_deref())?;
        let mut tx = self.state.db.begin().await?;
        let review = reviews::update(&mut tx, auth.0, ReviewId(review_id.0), rating, comment.as_deref()).await?;
        tx.commit().await?;
        self.state.reviews_changed(review.property_id).await;
        Ok(Json(review.into()))
    }

    /// Delete a review (its author or an admin)
    #[oai(path = "/reviews/:review_id", method = "delete", operation_id = "deleteReview")]
    async fn delete(&self, auth: BearerAuth, review_id: Path<Uuid>) -> Result<DeleteReviewResponse> {
        let mut tx = self.state.db.begin().await?;
        let review = reviews::delete(&mut tx, auth.0, ReviewId(review_id.0)).await?;
        tx.commit().await?;
        self.state.reviews_changed(review.property_id).await;
        Ok(DeleteReviewResponse::Deleted)
    }
}
