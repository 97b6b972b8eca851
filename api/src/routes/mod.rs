//! The HTTP operations, one module per resource, combined in [`api`].

pub(crate) mod auth;
pub(crate) mod bookings;
pub(crate) mod ops;
pub(crate) mod payments;
pub(crate) mod properties;
pub(crate) mod reviews;
pub(crate) mod users;

use poem_openapi::{OpenApiService, Tags};

use crate::state::AppState;

#[derive(Tags)]
pub enum Tag {
    /// Sign-in, token refresh and sign-out.
    Auth,
    /// Accounts: registration, profiles, administration.
    Users,
    /// Listings and search.
    Properties,
    /// Stays: holds, changes, cancellations.
    Bookings,
    /// Card payments through Stripe, and Stripe's webhook.
    Payments,
    /// Guests' reviews of their stays.
    Reviews,
    /// Liveness and readiness probes.
    Ops,
}

/// Every operation of the API, as one OpenAPI service.
pub fn api(state: &AppState) -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    OpenApiService::new(
        (
            ops::OpsApi { state: state.clone() },
            auth::AuthApi { state: state.clone() },
            users::UsersApi { state: state.clone() },
            properties::PropertiesApi { state: state.clone() },
            bookings::BookingsApi { state: state.clone() },
            payments::PaymentsApi { state: state.clone() },
            reviews::ReviewsApi { state: state.clone() },
        ),
        "Airbnb Clone API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Hosts list properties, guests search, book and pay, then review their stay. \
         Errors are RFC 9457 `application/problem+json` documents. Lists are keyset-paginated: \
         pass `next_cursor` back as `cursor`.",
    )
}
