//! The outcome of a refused domain operation, shared by REST, GraphQL and
//! the worker. Database errors keep their constraint name for the caller to
//! map.

use crate::domain::ValidationErrors;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// No such object, or not visible to the caller (`what` names it).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The caller's account is closed, perhaps while its request ran.
    #[error("the caller's account is closed")]
    AccountClosed,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The request conflicts with the current state; `slug` names the kind.
    #[error("conflict: {detail}")]
    Conflict { slug: &'static str, detail: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl DomainError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(ValidationErrors::single(field, message))
    }

    pub fn conflict(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { slug, detail: detail.into() }
    }
}
