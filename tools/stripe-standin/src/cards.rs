//! Stripe's test PaymentMethods (`pm_card_*`), as listed on <https://docs.stripe.com/testing>,
//! and what confirming a PaymentIntent with each of them does.

/// A test card behind a `pm_card_*` alias.
#[derive(Debug)]
pub struct TestCard {
    pub alias: &'static str,
    pub brand: &'static str,
    pub last4: &'static str,
    pub funding: &'static str,
    pub outcome: Outcome,
}

/// What a confirmation with the card does.
#[derive(Debug)]
pub enum Outcome {
    Succeeds,
    Declines(Decline),
    /// 3D Secure is required on every transaction: `requires_action` on session, a decline
    /// with `authentication_required` off session.
    RequiresAuthentication,
}

/// A card decline as Stripe reports it in `last_payment_error` and in the 402 error.
#[derive(Debug)]
pub struct Decline {
    pub code: &'static str,
    pub decline_code: &'static str,
    pub message: &'static str,
}

const GENERIC: Decline =
    Decline { code: "card_declined", decline_code: "generic_decline", message: "Your card was declined." };

/// The decline of an authentication-required card charged off session.
pub static AUTHENTICATION_REQUIRED: Decline = Decline {
    code: "authentication_required",
    decline_code: "authentication_required",
    message: "Your card was declined. This transaction requires authentication.",
};

const fn card(alias: &'static str, brand: &'static str, last4: &'static str, outcome: Outcome) -> TestCard {
    TestCard { alias, brand, last4, funding: "credit", outcome }
}

pub static CARDS: &[TestCard] = &[
    card("pm_card_visa", "visa", "4242", Outcome::Succeeds),
    card("pm_card_mastercard", "mastercard", "4444", Outcome::Succeeds),
    card("pm_card_amex", "amex", "0005", Outcome::Succeeds),
    card("pm_card_chargeDeclined", "visa", "0002", Outcome::Declines(GENERIC)),
    card(
        "pm_card_chargeDeclinedInsufficientFunds",
        "visa",
        "9995",
        Outcome::Declines(Decline {
            code: "card_declined",
            decline_code: "insufficient_funds",
            message: "Your card has insufficient funds.",
        }),
    ),
    card(
        "pm_card_chargeDeclinedLostCard",
        "visa",
        "9987",
        Outcome::Declines(Decline { decline_code: "lost_card", ..GENERIC }),
    ),
    card(
        "pm_card_chargeDeclinedStolenCard",
        "visa",
        "9979",
        Outcome::Declines(Decline { decline_code: "stolen_card", ..GENERIC }),
    ),
    card(
        "pm_card_chargeDeclinedExpiredCard",
        "visa",
        "0069",
        Outcome::Declines(Decline {
            code: "expired_card",
            decline_code: "expired_card",
            message: "Your card has expired.",
        }),
    ),
    card(
        "pm_card_chargeDeclinedIncorrectCvc",
        "visa",
        "0127",
        Outcome::Declines(Decline {
            code: "incorrect_cvc",
            decline_code: "incorrect_cvc",
            message: "Your card's security code is incorrect.",
        }),
    ),
    card(
        "pm_card_chargeDeclinedProcessingError",
        "visa",
        "0119",
        Outcome::Declines(Decline {
            code: "processing_error",
            decline_code: "processing_error",
            message: "An error occurred while processing your card. Try again in a little bit.",
        }),
    ),
    card("pm_card_authenticationRequired", "visa", "3184", Outcome::RequiresAuthentication),
];

/// The card behind a `pm_card_*` alias.
pub fn by_alias(alias: &str) -> Option<&'static TestCard> {
    CARDS.iter().find(|card| card.alias == alias)
}
